# t/01-registry.t (register, deregister, TTL expiry, status) against the
# gateway's built-in registry instead of Redis: the same blocks, agents
# registered through farm_registry_api (FarmTest's registry helpers).

use FindBin ();

$ENV{FARM_TEST_REGISTRY} = 'builtin';

do "$FindBin::Bin/01-registry.t";
die $@ if $@;
