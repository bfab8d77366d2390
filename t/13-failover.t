# Failover under load: with proxy_next_upstream, killing or hanging one of
# four agents while wrk drives GET traffic costs no request; the dead one
# is taken out by the health checks.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    my (%want) = @_;
    ensure_agents($Redis, \%Agent, %want);
    for my $id (keys %want) {
        wait_until(sub { farm_agents()->{$id}{state} eq 'up' }, 5, "$id up");
    }
}

# wrk for $seconds; $during->() runs once the load is on
sub under_load {
    my ($seconds, $during) = @_;
    my $wrk = background('wrk', 'wrk', '-t1', '-c8', "-d${seconds}s",
                         'http://127.0.0.1:' . gateway_port() . '/work?ms=5');
    wait_until(sub { farm_status()->{farms}[0]{totals}{requests} > 50 }, 5,
               'the load to start');
    $during->();
    my ($code, $out) = finish($wrk, $seconds + 30);
    my ($total) = $out =~ /(\d+) requests in/;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    my ($errors) = $out =~ /Socket errors: (.*)/;
    return { total => $total // 0, non2xx => $non2xx // 0,
             errors => $errors // '', out => $out };
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_balance least_conn;
        farm_health_check interval=200ms timeout=300ms rise=2 fall=2;
        farm_breaker failures=3 cooldown=2s;
        keepalive 16;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_next_upstream error timeout http_502 http_503;
        proxy_connect_timeout 300ms;
        proxy_read_timeout 500ms;
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

=== TEST 1: SIGKILL one of four agents under load: no failed request, and it is taken out
--- init
main::agents(map { ("k$_" => { ttl => '60s' }) } 1 .. 4);
my $r = main::under_load(4, sub {
    FarmTest::kill_agent(delete $main::Agent{k4});
    FarmTest::wait_until(sub { FarmTest::farm_agents()->{k4}{state} eq 'down' }, 5, 'k4 down');
});
Test::More::cmp_ok($r->{total}, '>', 100, "wrk sent $r->{total} requests");
Test::More::is($r->{non2xx}, 0, 'no non-2xx response') or Test::More::diag($r->{out});
Test::More::is($r->{errors}, '', 'no socket error') or Test::More::diag($r->{out});
my $before = FarmTest::farm_agents()->{k4}{requests};
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0') for 1 .. 20;
Test::More::is(FarmTest::farm_agents()->{k4}{requests}, $before, 'the dead agent gets nothing more');
FarmTest::deregister($main::Redis, 'k4');
--- request
GET /work?ms=0
--- error_code: 200
--- error_log
is down: 2 checks failed, the last: connection refused



=== TEST 2: SIGSTOP one of four agents under load (hung): no failed request; it comes back after SIGCONT
--- init
main::agents(map { ("s$_" => { ttl => '60s' }) } 1 .. 4);
my $r = main::under_load(4, sub {
    FarmTest::stop_signal($main::Agent{s4}, 'STOP');
    FarmTest::wait_until(sub { FarmTest::farm_agents()->{s4}{state} =~ /^(down|open)$/ }, 5,
                         's4 taken out');
});
Test::More::is($r->{non2xx}, 0, 'no non-2xx response') or Test::More::diag($r->{out});
FarmTest::stop_signal($main::Agent{s4}, 'CONT');
FarmTest::wait_until(sub {
    FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    FarmTest::farm_agents()->{s4}{state} eq 'up';
}, 10, 's4 back');
--- request
GET /farm
--- response_body_like: "id":"s4".*"state":"up"
--- error_log eval
qr/farm: agent "s4" \(127\.0\.0\.1:\d+\) of upstream "agents" is down: 2 checks failed, the last: timed out/
