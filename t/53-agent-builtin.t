# End to end, with nothing but the gateway: a real farm-agent registers
# itself in the gateway's built-in registry over HTTP (--registry
# http://.../farm/registry --token-file), is routed, comes back by itself
# when the gateway lost it, and is gone from routing once SIGTERM made it
# deregister.  Skipped while the module has no built-in registry.

BEGIN {
    require FindBin;
    my $modules = $ENV{TEST_NGINX_LOAD_MODULES}
                  // "$FindBin::Bin/../build/ngx_http_farm_module.so";
    my $known = 0;
    for my $so (grep { length } split /\s+/, $modules) {
        open my $f, '<', $so or next;
        binmode $f;
        local $/;
        $known = 1 if (<$f> // '') =~ /farm_registry_api/;
    }
    if (!$known) {
        require Test::More;
        Test::More::plan(skip_all => 'the module has no built-in registry '
                                     . '(farm_registry builtin) yet');
    }
}

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();

our $Dir = File::Temp::tempdir('farm-agent-builtin-XXXX', TMPDIR => 1,
                               CLEANUP => 1);
our $Agent;

{
    open my $f, '>', "$Dir/agents.token" or die "$Dir/agents.token: $!\n";
    print {$f} "e2e-" . join('', map { ('a' .. 'z')[rand 26] } 1 .. 20) . "\n";
    close $f;
}

$ENV{TEST_NGINX_TOKEN_FILE} = "$Dir/agents.token";

# the agent registers itself: the gateway lists it (polled generously)
sub listed {
    my ($id) = @_;
    return eval { FarmTest::farm_agents('agents')->{$id} };
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry builtin service=agents token_file=$TEST_NGINX_TOKEN_FILE ttl=5s;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location /farm/registry/ {
        farm_registry_api;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a farm-agent registers itself over HTTP and is routed
--- init
$main::Agent = FarmTest::start_agent(
    id => 'self1', ttl => '5s',
    registry => 'http://127.0.0.1:' . FarmTest::gateway_port() . '/farm/registry',
    extra => ['--token-file', $main::Dir . '/agents.token',
              '--heartbeat', '300ms']);
FarmTest::wait_until(sub { main::listed('self1') }, 20,
                     'self1 registered in the built-in registry');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: self1
--- response_body_like: "id":"self1"
--- no_error_log
[error]



=== TEST 2: SIGTERM: the agent deregisters (DELETE) and routing stops at once
--- init
# a gateway started anew for this block lost its agents: the agent's next
# heartbeat gets 404 and it registers again by itself
FarmTest::wait_until(sub { main::listed('self1') }, 20,
                     'self1 registered (again) in the built-in registry');
my $code = FarmTest::stop_agent($main::Agent);
Test::More::is($code, 0, 'the agent exits 0 after SIGTERM');
open my $f, '<', $main::Agent->{log} or die "$main::Agent->{log}: $!\n";
my $log = do { local $/; <$f> };
Test::More::like($log, qr{info: deregistered self1 from http://127\.0\.0\.1:\d+/farm/registry},
                 'the agent logged its deregistration from the gateway');
Test::More::unlike($log, qr/e2e-[a-z]{20}/, 'the token is in no log line');
--- request
GET /farm
--- response_body_unlike: "id":"self1"
--- no_error_log
[error]
