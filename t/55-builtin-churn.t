# t/24-registry-churn.t (fast register/deregister under load: no ghost
# afterwards, the zone holds what the registry holds, no failed request)
# against the gateway's built-in registry instead of Redis: the same
# blocks, scripts/churn.pl registering and deregistering through
# farm_registry_api's PUT and DELETE.

use FindBin ();

$ENV{FARM_TEST_REGISTRY} = 'builtin';

do "$FindBin::Bin/24-registry-churn.t";
die $@ if $@;
