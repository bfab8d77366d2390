# t/06-reload.t (reloads under traffic keep agents and counters, no shared
# memory leaked) against the gateway's built-in registry: its registrations
# live in the upstream's zone and a reload keeps them; a reload that gives
# the upstream a new zone (another size) carries them over.

use FindBin ();

$ENV{FARM_TEST_REGISTRY} = 'builtin';

do "$FindBin::Bin/06-reload.t";
die $@ if $@;
