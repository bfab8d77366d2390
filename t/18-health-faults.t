# Active health checks through reloads, a killed worker and many slow
# agents: what a check in flight leaves behind when its worker goes, and how
# many checks a worker runs at once.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;
our @Listeners;      # start_listener handles, stopped by the next block

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

# a clean registry and no listener of an earlier block; the deregistrations
# are sent again every second, for a gateway that had not subscribed yet
sub fresh {
    FarmTest::stop_listener(shift @Listeners) while @Listeners;
    my $sent = 0;
    wait_until(sub {
        my @left = grep { !$Agent{$_} } keys %{ FarmTest::farm_agents() };
        return 1 unless @left;
        if (Time::HiRes::time() - $sent > 1) {
            deregister($Redis, $_) for @left;
            $sent = Time::HiRes::time();
        }
        return 0;
    }, 30, 'the records of the last block to go');
}

sub listener {
    my $h = FarmTest::start_listener(@_);
    push @Listeners, $h;
    return $h;
}

# the same port answers again, after $delay seconds
sub replace_listener {
    my ($old, $delay) = @_;
    @Listeners = grep { $_ != $old } @Listeners;
    FarmTest::stop_listener($old);
    return listener(port => $old->{port}, delay => $delay);
}

# wait_until as an assertion: a failed wait fails the test, not the file
sub expect {
    my ($what, $timeout, $code) = @_;
    my $ok = eval { wait_until($code, $timeout, $what); 1 };
    Test::More::ok($ok, $what) or Test::More::diag($@);
    return $ok;
}

sub checks_of {
    my ($id) = @_;
    return FarmTest::farm_agents()->{$id}{health}{checks} // 0;
}


add_block_preprocessor(sub {
    my $block = shift;
    my $check = $block->check // 'interval=200ms timeout=1s rise=1 fall=1';
    chomp $check;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_health_check $check;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_read_timeout 2s;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

master_on();
workers(2);
worker_connections(128);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: an agent whose check hangs across reloads is checked again, and comes back up when it answers
--- check
interval=200ms timeout=1s rise=1 fall=1 jitter=0
--- init
main::fresh();
my $hang = main::listener();                    # accepts, never answers
FarmTest::put_record($main::Redis, id => 'h1', port => $hang->{port});
FarmTest::wait_until(sub { FarmTest::agent_state('h1') eq 'down' }, 10, 'h1 down');
for my $n (1 .. 3) {
    main::expect("a check of h1 in flight before reload $n", 5, sub {
        FarmTest::pids_connected_to($hang->{port}, FarmTest::nginx_workers())
    }) or last;
    FarmTest::nginx_reload();
}
my $checks = main::checks_of('h1');
main::replace_listener($hang, 0.3);             # answers, slowly
main::expect('h1 up again once it answers', 10,
             sub { FarmTest::agent_state('h1') eq 'up' });
Test::More::cmp_ok(main::checks_of('h1'), '>', $checks, 'h1 is checked after the reloads');
--- request
GET /farm
--- response_body_like: "id":"h1".*"state":"up"
--- no_error_log
[error]
[alert]


=== TEST 2: agents with a slow /health (300 ms) through ten reloads: every one is still checked, no socket left open
--- check
interval=200ms timeout=2s rise=2 fall=3
--- init
main::fresh();
my $slow = main::listener(delay => 0.3);
my @ids = map { "s$_" } 0 .. 3;
FarmTest::put_record($main::Redis, id => $_, port => $slow->{port}) for @ids;
FarmTest::wait_until(sub {
    my $ag = FarmTest::farm_agents();
    !grep { ($ag->{$_}{state} // '') ne 'up' } @ids
}, 10, 'the slow agents up');
FarmTest::nginx_reload() for 1 .. 10;
my $before = FarmTest::farm_agents();
main::expect('two more checks of every slow agent after the reloads', 10, sub {
    my $now = FarmTest::farm_agents();
    !grep { $now->{$_}{health}{checks} < $before->{$_}{health}{checks} + 2 } @ids
});
--- request
GET /farm
--- response_body_like: "id":"s0".*"state":"up"
--- no_error_log
[error]
[alert]


=== TEST 3: SIGKILL of the worker whose check is in flight: the respawned worker checks the agent again
--- check
interval=300ms timeout=5s rise=1 fall=1 jitter=0
--- init
main::fresh();
my $hang = main::listener();
FarmTest::put_record($main::Redis, id => 'h2', port => $hang->{port});
FarmTest::wait_until(sub {
    FarmTest::pids_connected_to($hang->{port}, FarmTest::nginx_workers()) == 1
}, 10, 'a worker checking h2');
my ($checker) = FarmTest::pids_connected_to($hang->{port}, FarmTest::nginx_workers());
kill 'KILL', $checker;
FarmTest::wait_until(sub {
    my @w = FarmTest::nginx_workers();
    @w == 2 && !grep { $_ == $checker } @w
}, 10, 'the master to respawn the worker');
main::expect('the respawned worker checks h2', 5, sub {
    FarmTest::pids_connected_to($hang->{port}, FarmTest::nginx_workers())
});
main::replace_listener($hang, 0);
main::expect('h2 up once it answers', 10, sub { FarmTest::agent_state('h2') eq 'up' });
--- request
GET /farm
--- response_body_like: "id":"h2".*"state":"up"
--- no_error_log
[error]
open socket


=== TEST 4: 300 agents that never answer their checks: at most concurrency= checks per worker, no connection shortage, clients served, the lateness logged
--- check
interval=500ms timeout=1s
--- init
main::fresh();
FarmTest::ensure_agents($main::Redis, \%main::Agent, a => { ttl => '60s' });
my $hang = main::listener();
FarmTest::put_record($main::Redis, id => "slow$_", port => $hang->{port}) for 1 .. 300;
main::expect('every slow agent failed its first check', 60, sub {
    my $ag = FarmTest::farm_agents();
    300 == grep { /^slow/ && $ag->{$_}{state} eq 'down' } keys %$ag
});
my $c = FarmTest::spread(20);
Test::More::is($c->{a}, 20, 'clients are served by the good agent');
my $ag = FarmTest::farm_agents();
my @odd = grep { /^slow/ && $ag->{$_}{health}{last_error} ne 'timed out' } keys %$ag;
Test::More::is("@odd", '', 'every failed check timed out: none lacked a connection');
# (+ 4: the listener may count a connection nginx closed a moment ago)
Test::More::cmp_ok(FarmTest::listener_peak($hang), '<=', 2 * 64 + 4,
                   'at most 64 checks in flight per worker');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
qr/farm: health checks of upstream "agents" run \d+ ms late: this worker has concurrency=64 of them in flight \(raise concurrency=, or lower timeout=\)/
--- no_error_log
[error]
[alert]
worker_connections are not enough


=== TEST 5: concurrency=1: the checks of ten slow agents take turns; none counts as failed for waiting
--- check
interval=200ms timeout=1s concurrency=1 rise=1 fall=1
--- init
main::fresh();
my $slow = main::listener(delay => 0.1);
FarmTest::put_record($main::Redis, id => "t$_", port => $slow->{port}) for 1 .. 10;
FarmTest::wait_until(sub {
    my $ag = FarmTest::farm_agents();
    10 == grep { /^t/ && $ag->{$_}{state} eq 'up' && $ag->{$_}{health}{checks} >= 2 } keys %$ag
}, 30, 'every slow agent up and checked twice');
my $ag = FarmTest::farm_agents();
Test::More::is((join ',', map { $ag->{"t$_"}{health}{failed} } 1 .. 10), join(',', (0) x 10),
               'no check failed');
Test::More::cmp_ok(FarmTest::listener_peak($slow), '<=', 2, 'one check in flight per worker');
--- request
GET /farm
--- response_body_like: "id":"t1".*"state":"up"
--- no_error_log
[error]
[alert]
