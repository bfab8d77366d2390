# Admission state that must survive what happens to workers and requests:
# farm_client_limit counts and farm_queue waiters held by a worker that is
# killed are given back, colliding client keys are still limited, an
# internal redirect does not count a request twice, a request whose own
# agents are all down is refused at once, waiters of one region do not
# stand in the way of another, and a reload leaves no socket open.

use Test::Nginx::Socket 'no_plan';
use Compress::Zlib ();
use File::Temp ();
use FarmTest;

our $Redis = start_redis();
our %Agent;
our $Order = File::Temp::tempdir(CLEANUP => 1) . '/order.txt';

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_RP_PORT} = free_port();     # a reuseport listener

sub agents { ensure_agents($Redis, \%Agent, @_) }

sub farm { farm_status()->{farms}[0] }

sub rp_port { $ENV{TEST_NGINX_RP_PORT} }

# Two kept-alive connections accepted by two different workers:
# ([$sock, $pid], [$sock, $pid]).
sub two_workers {
    my %by_pid;
    for (1 .. 60) {
        my $c = http_conn(rp_port()) or next;
        my ($code, undef, $pid) = http_on($c, '/pid');
        next unless defined $code && $code == 200;
        $by_pid{$pid} //= $c;
        last if keys %by_pid == 2;
    }
    die "could not reach two workers\n" unless keys %by_pid == 2;
    return map { [$by_pid{$_}, $_] } sort keys %by_pid;
}

# SIGKILL a worker and wait until the master has started its successor.
sub kill_worker {
    my ($pid) = @_;
    my $master = nginx_pid();
    kill 'KILL', $pid;
    wait_until(sub {
        my @w = nginx_workers($master);
        @w == 2 && !grep { $_ == $pid } @w;
    }, 10, "worker $pid replaced");
}

# HUP the master and wait until the old workers have exited.
sub reload_and_wait {
    my $master = nginx_pid();
    my @old = nginx_workers($master);
    kill 'HUP', $master;
    wait_until(sub { !grep { kill 0, $_ } @old }, 15, 'the old workers gone');
    wait_until(sub { my @w = nginx_workers($master); @w == 2 }, 10, 'two new workers');
}

# a request left in flight that writes its tag to $Order when answered
sub tagged {
    my ($tag, $path, %headers) = @_;
    my $url = 'http://127.0.0.1:' . gateway_port() . $path;
    my $h = join ' ', map { "-H '$_: $headers{$_}'" } sort keys %headers;
    return background("request $tag", 'sh', '-c',
                      "code=\$(curl -s -o /dev/null -w '%{http_code}' $h '$url'); "
                      . "echo \"$tag \$code\" >> $Order");
}

sub order {
    open my $fh, '<', $Order or return '';
    return join ',', map { chomp; $_ } <$fh>;
}

add_block_preprocessor(sub {
    my $block = shift;
    my $farm = $block->farm // "farm_client_limit key=\$http_x_client max=1;\n";

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        $farm
    }

    server {
        listen 127.0.0.1:\$TEST_NGINX_RP_PORT reuseport;
        location / {
            proxy_pass http://agents;
        }
        location = /pid {
            return 200 \$pid;
        }
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: client keys with the same CRC32 are each limited (they collide: checked first)
--- init
for my $pair (['uablaijhsa', 'pfcxpytzcn'], ['c-ga87t0m5rv', 'c-0xyf3rpz5c']) {
    my ($k1, $k2) = @$pair;
    Test::More::is(Compress::Zlib::crc32($k1), Compress::Zlib::crc32($k2),
                   "$k1 and $k2 have the same CRC32");
}
main::agents(c1 => {}, c2 => {});
for my $pair (['uablaijhsa', 'pfcxpytzcn'], ['c-ga87t0m5rv', 'c-0xyf3rpz5c']) {
    my ($k1, $k2) = @$pair;
    my @held = (FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=2000',
                                         'X-Client' => $k1));
    FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, "$k1 in flight");
    push @held, FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=2000',
                                         'X-Client' => $k2);
    FarmTest::wait_until(sub { main::farm()->{totals}{active} == 2 }, 5, "$k2 in flight");
    my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => $k2);
    Test::More::is($code, 429, "a second $k2 request: 429");
    ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => $k1);
    Test::More::is($code, 429, "a second $k1 request: 429");
    FarmTest::wait_until(sub { FarmTest::finished($_) }, 10, 'held requests') for @held;
}
--- request
GET /work?ms=0
--- more_headers
X-Client: uablaijhsa
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: a key longer than 64 bytes is kept as a digest and still limited
--- init
main::agents(c1 => {});
my $long = 'u' x 5000;
my $held = FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=1500', 'X-Client' => $long);
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the long key in flight');
my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => $long);
Test::More::is($code, 429, 'the same long key again: 429');
($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => ('u' x 4999) . 'v');
Test::More::is($code, 200, 'a long key differing in its last byte: 200');
FarmTest::wait_until(sub { FarmTest::finished($held) }, 10, 'the held request');
--- request
GET /work?ms=0
--- more_headers
X-Client: uuuu
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: a worker killed with a request in flight: its client count is given back when the worker is replaced, and after a reload
--- init
main::agents(c1 => {});
my ($w1) = main::two_workers();
FarmTest::http_on($w1->[0], '/work?ms=4000', 'X-Client' => 'alice', read => 0);
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'alice in flight');
my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => 'alice');
Test::More::is($code, 429, 'alice at her limit: 429');
main::kill_worker($w1->[1]);
($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => 'alice');
Test::More::is($code, 200, 'after the worker was replaced: alice gets 200');
main::reload_and_wait();
($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => 'alice');
Test::More::is($code, 200, 'after a reload too');
# the agent still sleeps on the dead worker's request: let it finish
FarmTest::wait_until(sub {
    my (undef, undef, $b) = FarmTest::http_get($main::Agent{c1}, '/health');
    ($b // '') =~ /"inflight":\s*0\b/;
}, 15, 'c1 idle');
--- request
GET /work?ms=0
--- more_headers
X-Client: alice
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: a worker killed while its request waits in the queue: the waiter is given back, and the agent is not granted to it
--- farm
farm_queue max=10 timeout=2s;
--- init
main::agents(q1 => { max_conns => 1 });
my ($w1, $w2) = main::two_workers();
FarmTest::http_on($w1->[0], '/work?ms=2000', read => 0);
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the agent busy');
FarmTest::http_on($w2->[0], '/work?ms=0', read => 0);
FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == 1 }, 5, 'one waiting');
main::kill_worker($w2->[1]);
Test::More::ok(eval { FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == 0 }, 5, 'w'); 1 },
               'the dead waiter given back');
Test::More::ok(eval { FarmTest::wait_until(sub { main::farm()->{totals}{active} == 0 }, 5, 'a'); 1 },
               'the agent free once the busy request ended, not granted to the dead waiter');
--- request
GET /work?ms=0
--- error_code: 200
--- response_headers
X-Farm-Agent: q1
--- no_error_log
[error]



=== TEST 5: after error_page to a named location, the request is admitted once: no 429 from its own count, nothing left counted
--- farm
farm_client_limit key=$http_x_client max=1;
farm_queue max=10 timeout=5s;
--- config
    location / {
        proxy_pass http://agents;
        proxy_intercept_errors on;
        error_page 502 = @again;
    }
    location @again {
        rewrite ^ /work?ms=0? break;
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
--- init
main::agents(c1 => {});
my ($code, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?status=502', 'X-Client' => 'carol');
Test::More::is($code, 200, 'the 502 went to @again, which got 200');
Test::More::is($h->{'x-farm-agent'}, 'c1', 'from the agent');
Test::More::ok(eval { FarmTest::wait_until(sub { main::farm()->{totals}{active} == 0 }, 5, 'a'); 1 },
               'nothing left taken');
($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => 'carol');
Test::More::is($code, 200, 'carol again: her count ended with her request');
--- request
GET /farm
--- response_body_like: "client_limit":\{"max":1,"limited":0\}
--- no_error_log
[error]



=== TEST 6: a request whose region's agents are all down is refused at once, not queued (while another region is up)
--- farm
farm_queue max=10 timeout=3s;
farm_health_check uri=/health interval=200ms timeout=1s fall=2 rise=1;
farm_region $http_x_region;
farm_region_fallback zz;
--- init
main::agents(eu1 => { region => 'eu' });
FarmTest::put_record($main::Redis, id => 'ap1', port => FarmTest::free_port(), region => 'ap');
FarmTest::wait_until(sub { (FarmTest::agent_state('ap1') // '') eq 'down' }, 10, 'ap1 down');
my ($code, undef, $body) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Region' => 'ap');
Test::More::is($code, 503, 'ap: 503');
Test::More::unlike($body // '', qr/queue/, 'not a queue timeout');
($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Region' => 'eu');
Test::More::is($code, 200, 'eu: 200');
FarmTest::deregister($main::Redis, 'ap1');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,"max":10,"timeout_ms":3000,"queued":0,
--- error_log
no live upstreams



=== TEST 7: waiters of a saturated region do not hold up another region, and are served in priority order when theirs frees up
--- farm
farm_queue max=20 timeout=10s priority=$http_x_priority;
farm_region $http_x_region;
farm_region_fallback zz;
--- config
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
--- init
unlink $main::Order;
main::agents(ap1 => { region => 'ap', max_conns => 1 }, eu1 => { region => 'eu', max_conns => 1 });
my @bg = (main::tagged('apbusy', '/work?ms=2500', 'X-Region' => 'ap'));
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'ap busy');
my $n = 0;
for my $r (['low1', 1], ['low2', 1], ['high', 10]) {
    push @bg, main::tagged($r->[0], '/work?ms=200', 'X-Region' => 'ap', 'X-Priority' => $r->[1]);
    $n++;
    FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == $n }, 5, "$n waiting");
}
push @bg, main::tagged('eubusy', '/work?ms=300', 'X-Region' => 'eu');
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 2 }, 5, 'eu busy');
push @bg, main::tagged('euwait', '/work?ms=0', 'X-Region' => 'eu', 'X-Priority' => 0);
FarmTest::finish($_, 20) for @bg;
my @done = split /,/, main::order();
my %at = map { (split / /, $done[$_])[0] => $_ } 0 .. $#done;
Test::More::is(scalar(grep { / 200$/ } @done), 6, 'all six answered 200');
Test::More::cmp_ok($at{euwait}, '<', $at{apbusy}, 'the eu waiter served while ap stayed busy');
Test::More::is(join(',', grep { !/^eu/ } map { (split / /)[0] } @done), 'apbusy,high,low1,low2',
               'ap: high priority first, then the low ones in arrival order');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,.*"dispatched":4,"timed_out":0,
--- no_error_log
[error]



=== TEST 8: several priorities mixed: highest first, arrival order within each
--- farm
farm_queue max=20 timeout=10s priority=$http_x_priority;
--- init
unlink $main::Order;
main::agents(q1 => { max_conns => 1 });
my @bg = (main::tagged('busy', '/work?ms=1500'));
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the agent busy');
my $n = 0;
for my $r (['p1a', 1], ['p5a', 5], ['p1b', 1], ['p5b', 5], ['p3', 3], ['p10', 10], ['m2', -2]) {
    push @bg, main::tagged($r->[0], '/work?ms=50', 'X-Priority' => $r->[1]);
    $n++;
    FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == $n }, 5, "$n waiting");
}
FarmTest::finish($_, 20) for @bg;
Test::More::is(main::order(), 'busy 200,p10 200,p5a 200,p5b 200,p3 200,p1a 200,p1b 200,m2 200',
               'by priority, then arrival');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,.*"dispatched":7,"timed_out":0,
--- no_error_log
[error]



=== TEST 9: an agent that joins a saturated region takes its waiter at once
--- farm
farm_queue max=20 timeout=10s;
farm_region $http_x_region;
farm_region_fallback zz;
--- init
unlink $main::Order;
main::agents(eu1 => { region => 'eu', max_conns => 1 });
my @bg = (main::tagged('eubusy', '/work?ms=5000', 'X-Region' => 'eu'));
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'eu busy');
push @bg, main::tagged('euwait', '/work?ms=0', 'X-Region' => 'eu');
FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == 1 }, 5, 'one waiting');
main::agents(eu1 => { region => 'eu', max_conns => 1 }, eu2 => { region => 'eu' });
FarmTest::finish($_, 20) for @bg;
Test::More::is(main::order(), 'euwait 200,eubusy 200', 'the waiter served by the new agent, before the busy one ended');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,.*"dispatched":1,"timed_out":0,
--- no_error_log
[error]



=== TEST 10: a reload with farm_queue and farm_client_limit leaves no socket open in the old workers
--- farm
farm_client_limit key=$http_x_client max=4;
farm_queue max=10;
--- init
main::agents(c1 => {});
main::reload_and_wait();
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[alert]
[error]



=== TEST 11: a reload that adds farm_queue to an upstream with an explicit zone= completes, and the queue works
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms zone=4m;
    }
--- init
main::agents(q1 => { max_conns => 1 });
my $conf = FarmTest::servroot() . '/conf/nginx.conf';
open my $in, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$in> };
close $in;
$text =~ s/zone=4m;/zone=4m;\n        farm_queue max=10 timeout=5s;/ or die "no zone=4m in $conf\n";
open my $out, '>', $conf or die "$conf: $!\n";
print $out $text;
close $out;
main::reload_and_wait();
Test::More::ok(eval { FarmTest::wait_until(sub { main::farm()->{queue} }, 5, 'q'); 1 },
               'the new workers answer, with the queue');
my $busy = FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=1000');
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the agent busy');
my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
Test::More::is($code, 200, 'a request that waited for the busy agent: 200');
FarmTest::wait_until(sub { FarmTest::finished($busy) }, 10, 'the busy request');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,"max":10,"timeout_ms":5000,"queued":1,"dispatched":1,
--- no_error_log
[error]
[alert]



=== TEST 12: a worker killed after its waiter was granted the agent, before it took it: the grant is given back with the worker
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_queue max=10 timeout=10s;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_RP_PORT reuseport;
        location / {
            proxy_pass http://agents;
        }
        location = /pid {
            return 200 $pid;
        }
        location = /farm {
            farm_status;
        }
    }
--- init
main::agents(g1 => { max_conns => 1 });
my ($w1, $w2) = main::two_workers();
my ($s1) = main::two_workers();     # a second connection to the first worker
die "not the same worker\n" unless $s1->[1] == $w1->[1];
# the farm's state as the first worker sees it (the second will be stopped)
my $farm = sub {
    my ($code, undef, $body) = FarmTest::http_on($s1->[0], '/farm');
    die "farm_status: " . ($code // 'no answer') . "\n" unless ($code // 0) == 200;
    JSON::PP::decode_json($body)->{farms}[0];
};
FarmTest::http_on($w1->[0], '/work?ms=1500', read => 0);
FarmTest::wait_until(sub { $farm->()->{totals}{active} == 1 }, 5, 'the agent busy');
FarmTest::http_on($w2->[0], '/work?ms=0', read => 0);
FarmTest::wait_until(sub { $farm->()->{queue}{waiting} == 1 }, 5, 'one waiting');
kill 'STOP', $w2->[1];
# the busy request ends in the first worker, which grants the agent to the
# stopped worker's waiter: taken on its behalf
Test::More::ok(eval { FarmTest::wait_until(sub {
    my $f = $farm->();
    $f->{queue}{dispatched} == 1 && $f->{queue}{waiting} == 0 && $f->{totals}{active} == 1;
}, 10, 'granted'); 1 }, 'the agent granted to the stopped worker\'s waiter');
main::kill_worker($w2->[1]);
Test::More::ok(eval { FarmTest::wait_until(sub { main::farm()->{totals}{active} == 0 }, 5, 'a'); 1 },
               'the dead worker\'s grant given back: the agent is free');
--- request
GET /work?ms=0
--- error_code: 200
--- response_headers
X-Farm-Agent: g1
--- error_log
gave back 1 request(s) held on agents by 1 worker process(es)
--- no_error_log
[error]
