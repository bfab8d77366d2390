# Geographic routing: farm_region prefers the request's region, and
# farm_region_fallback says where to go when it has no available agent.
# Backup agents come after every primary of every allowed region.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

our %Three = (eu1 => { region => 'eu-central' }, us1 => { region => 'us-east' },
              ap1 => { region => 'ap-south' });


add_block_preprocessor(sub {
    my $block = shift;
    my $fallback = $block->fallback // 'eu-central us-east *';
    chomp $fallback;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_region \$http_x_region;
        farm_region_fallback $fallback;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        add_header X-Served-Region $farm_region always;
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

=== TEST 1: the request's region is served by an agent of that region
--- init
main::agents(%main::Three);
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Region' => 'us-east'), 'us1=4', 'us-east -> us1');
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Region' => 'ap-south'), 'ap1=4', 'ap-south -> ap1');
--- request
GET /work?ms=0
--- more_headers
X-Region: eu-central
--- response_headers
X-Farm-Agent: eu1
X-Served-Region: eu-central
--- no_error_log
[error]


=== TEST 2: no region in the request: the fallback order decides
--- init
main::agents(%main::Three);
--- request eval
[("GET /work?ms=0") x 3]
--- response_headers eval
[("X-Farm-Agent: eu1") x 3]
--- no_error_log
[error]


=== TEST 3: an unknown region goes down the fallback order too
--- init
main::agents(%main::Three);
--- request
GET /work?ms=0
--- more_headers
X-Region: mars-north
--- response_headers
X-Farm-Agent: eu1
X-Served-Region: eu-central
--- no_error_log
[error]


=== TEST 4: the region goes down: the next region of the fallback order, then "*"
--- init
main::agents(eu1 => $main::Three{eu1}, ap1 => $main::Three{ap1});    # us1 leaves
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Region' => 'us-east'), 'eu1=4',
               'us-east without agents -> eu-central (first fallback)');
main::agents(ap1 => $main::Three{ap1});                              # eu1 leaves
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Region' => 'us-east'), 'ap1=4',
               'us-east and eu-central gone -> "*"');
--- request
GET /farm
--- response_body_like: "id":"ap1"
--- no_error_log
[error]


=== TEST 5: without "*" in the fallbacks, other regions are never used
--- fallback
eu-central
--- init
main::agents(%main::Three);
Test::More::is(FarmTest::spread_text(3, '/work?ms=0', 'X-Region' => 'ap-south'), 'ap1=3', 'its own region is always fine');
main::agents(ap1 => $main::Three{ap1});
--- request
GET /work?ms=0
--- more_headers
X-Region: us-east
--- error_code: 503
--- response_body
{"error":"no healthy agent available","upstream":"agents","service":"agents","agents":1}
--- error_log
no live upstreams


=== TEST 6: the region from geo (client address ranges)
--- http_config
    geo $client_region {
        default      eu-central;
        127.0.0.0/8  us-east;
    }
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_region $client_region;
    }
--- init
main::agents(%main::Three);
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: us1
X-Served-Region: us-east
--- no_error_log
[error]


=== TEST 7: the region from the host name (map $host: *.eu -> eu-central)
--- http_config
    map $host $host_region {
        ~\.eu$    eu-central;
        ~\.us$    us-east;
        default   "";
    }
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_region $host_region;
        farm_region_fallback ap-south;
    }
--- init
main::agents(%main::Three);
Test::More::is(FarmTest::spread_text(3, '/work?ms=0', Host => 'api.us'), 'us1=3', 'api.us -> us-east');
Test::More::is(FarmTest::spread_text(3, '/work?ms=0', Host => 'example.org'), 'ap1=3', 'no region -> the fallback');
--- request
GET /work?ms=0
--- more_headers
Host: api.eu
--- response_headers
X-Farm-Agent: eu1
--- no_error_log
[error]


=== TEST 8: backup agents come after the primaries of every allowed region
--- init
main::agents(%main::Three, beu => { region => 'eu-central', backup => 1 });
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Region' => 'eu-central'), 'eu1=4', 'the eu primary first');
main::agents(us1 => $main::Three{us1}, ap1 => $main::Three{ap1},
             beu => { region => 'eu-central', backup => 1 });
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Region' => 'eu-central'), 'us1=4',
               'eu primary gone: a primary of the next region, not the eu backup');
main::agents(beu => { region => 'eu-central', backup => 1 });
Test::More::is(FarmTest::spread_text(4, '/work?ms=0', 'X-Region' => 'eu-central'), 'beu=4',
               'no primary anywhere: the backup');
--- request
GET /farm
--- response_body_like: "id":"beu".*"backup":true
--- no_error_log
[error]


=== TEST 9: agents that change region, leave and come back: each region's requests go to exactly the agents it has now
--- fallback
zz
--- config
    location / {
        proxy_pass http://agents;
        add_header X-Chosen $farm_agent always;
    }
    location = /farm {
        farm_status;
    }
--- init
main::agents(w => { region => 'eu-central' });
my $port = $main::Agent{w}{port};
my $put = sub { FarmTest::put_record($main::Redis, id => $_[0], port => $port, region => $_[1]) };
my $settled = sub { FarmTest::settle_chosen($_[1], 'X-Region' => $_[0]) };
$put->($_, 'r1') for qw(a b c d);
$settled->('r1', 'a,b,c,d');
$put->('b', 'r2');                                  # the middle of r1's list moves
$put->('d', 'r2');                                  # and its head
$settled->('r1', 'a,c');
$settled->('r2', 'b,d');
FarmTest::deregister($main::Redis, 'c');
$settled->('r1', 'a');
$put->('c', 'r2');
$put->('a', 'r2');                                  # r1 empties
$settled->('r2', 'a,b,c,d');
$settled->('r1', 'status-503');
$put->('e', 'r1');
$settled->('r1', 'e');
FarmTest::deregister($main::Redis, $_) for qw(a b c d e);
--- request
GET /farm
--- response_body_like: "registry_up":true
--- error_log
no live upstreams
--- no_error_log
[alert]
[crit]
