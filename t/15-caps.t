# Capability routing: farm_require names capabilities the chosen agent must
# all have.  When no agent has them the request gets 503 naming them, never
# an agent without them.  A malformed list in a header gets 400.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

our %Set = (gpu1 => { cap => 'gpu,browser', region => 'eu-central' },
            cpu1 => { cap => 'browser', region => 'us-east' },
            pdf1 => { cap => 'pdf', region => 'eu-central' });


add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_require $need;
        farm_region $http_x_region;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    set $need $http_x_farm_capability;

    location / {
        proxy_pass http://agents;
    }
    location /render/ {
        set $need gpu;
        proxy_pass http://agents/work;
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

=== TEST 1: one capability: only agents that have it
--- init
main::agents(%main::Set);
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Farm-Capability' => 'pdf'), 'pdf1=4', 'pdf -> pdf1');
Test::More::is(FarmTest::spread_text(6, '/work?ms=0', 'X-Farm-Capability' => 'browser'), 'cpu1=3,gpu1=3',
               'browser -> the two agents that have it');
--- request
GET /work?ms=0
--- more_headers
X-Farm-Capability: gpu
--- response_headers
X-Farm-Agent: gpu1
--- no_error_log
[error]


=== TEST 2: several capabilities: an agent with all of them (spaces allowed)
--- init
main::agents(%main::Set);
--- request eval
[("GET /work?ms=0") x 3]
--- more_headers
X-Farm-Capability: browser , gpu
--- response_headers eval
[("X-Farm-Agent: gpu1") x 3]
--- no_error_log
[error]


=== TEST 3: a capability no agent has: 503 naming it
--- init
main::agents(%main::Set);
--- request
GET /work?ms=0
--- more_headers
X-Farm-Capability: gpu,quantum
--- error_code: 503
--- response_headers
Content-Type: application/json
--- response_body
{"error":"no agent has the required capabilities","required":["gpu","quantum"],"missing":["quantum"],"upstream":"agents","service":"agents","agents":3}
--- error_log
no live upstreams


=== TEST 4: capabilities that exist, but never on one agent: 503, nothing missing by itself
--- init
main::agents(%main::Set);
--- request
GET /work?ms=0
--- more_headers
X-Farm-Capability: pdf,gpu
--- error_code: 503
--- response_body
{"error":"no agent has the required capabilities","required":["pdf","gpu"],"missing":[],"upstream":"agents","service":"agents","agents":3}
--- error_log
no live upstreams


=== TEST 5: the only gpu agent leaves: no silent fallback to an agent without gpu
--- init
main::agents(cpu1 => $main::Set{cpu1}, pdf1 => $main::Set{pdf1});
--- request
GET /work?ms=0
--- more_headers
X-Farm-Capability: gpu
--- error_code: 503
--- response_body
{"error":"no agent has the required capabilities","required":["gpu"],"missing":[],"upstream":"agents","service":"agents","agents":2}
--- error_log
no live upstreams


=== TEST 6: a malformed capability list in the header: 400
--- init
main::agents(%main::Set);
--- request
GET /work?ms=0
--- more_headers
X-Farm-Capability: gpu,../../etc/passwd
--- error_code: 400
--- response_body
{"error":"invalid capability in the request: names are 1-64 of A-Z a-z 0-9 . _ -, at most 32","upstream":"agents","service":"agents","agents":3}
--- error_log
no live upstreams


=== TEST 7: no capability asked: any agent
--- init
main::agents(%main::Set);
Test::More::is(FarmTest::spread_text(6), 'cpu1=2,gpu1=2,pdf1=2', 'round robin over all three');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]


=== TEST 8: a requirement fixed per location (set $need gpu)
--- init
main::agents(%main::Set);
--- request eval
[("GET /render/?ms=0") x 3]
--- response_headers eval
[("X-Farm-Agent: gpu1") x 3]
--- no_error_log
[error]


=== TEST 9: capability and region together
--- init
main::agents(%main::Set, cpu2 => { cap => 'browser', region => 'eu-central' });
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Farm-Capability' => 'browser', 'X-Region' => 'us-east'),
               'cpu1=4', 'browser in us-east -> cpu1');
--- request eval
[("GET /work?ms=0") x 4]
--- more_headers
X-Farm-Capability: browser
X-Region: eu-central
--- response_headers_like eval
[("X-Farm-Agent: (?:gpu1|cpu2)") x 4]
--- no_error_log
[error]


=== TEST 10: agents that change capabilities, leave and come back: each capability's requests go to exactly the agents that have it now
--- config
    set $need $http_x_farm_capability;

    location / {
        proxy_pass http://agents;
        add_header X-Chosen $farm_agent always;
    }
    location = /farm {
        farm_status;
    }
--- init
main::agents(w => { cap => 'base', region => 'eu-central' });
my $port = $main::Agent{w}{port};
my $put = sub { my ($id, @caps) = @_;
    FarmTest::put_record($main::Redis, id => $id, port => $port, caps => [@caps]) };
my $settled = sub { FarmTest::settle_chosen($_[1], 'X-Farm-Capability' => $_[0]) };
$put->($_, 'gpu') for qw(a b c d);
$settled->('gpu', 'a,b,c,d');
$put->('b', 'cpu');                                 # the middle of {gpu}'s list moves
$put->('d', 'cpu');                                 # and its head
$settled->('gpu', 'a,c');
$settled->('cpu', 'b,d');
$put->('c', 'gpu', 'pdf');                          # to a larger set, still gpu
$settled->('pdf', 'c');
$settled->('gpu', 'a,c');
FarmTest::deregister($main::Redis, 'c');            # {gpu,pdf} empties
$settled->('gpu', 'a');
$settled->('pdf', 'status-503');
$put->('c', 'cpu');
$put->('a', 'cpu', 'gpu');                          # {gpu} empties
$settled->('cpu', 'a,b,c,d');
$settled->('gpu', 'a');
$put->('a', 'cpu');
$settled->('gpu', 'status-503');
$put->('e', 'gpu');                                 # a set used again
$settled->('gpu', 'e');
$settled->('base', 'w');
FarmTest::deregister($main::Redis, $_) for qw(a b c d e);
--- request
GET /farm
--- response_body_like: "registry_up":true
--- error_log
no live upstreams
--- no_error_log
[alert]
[crit]
