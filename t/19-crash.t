# A worker killed with SIGKILL mid-request: the respawned workers take over
# syncing, and what the dead worker held in shared memory (requests in
# flight counted against agents) is given back, so no agent stays "full"
# and no request is refused because of the dead worker's leftovers.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub worker_pids {
    my $master = nginx_pid() or return ();
    opendir my $d, '/proc' or return ();
    my @pids;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        my ($ppid) = $stat =~ /^\d+ \(.*?\) \S (\d+)/;
        next unless defined $ppid && $ppid == $master;
        open my $cf, '<', "/proc/$p/cmdline" or next;
        my $cmd = <$cf> // '';
        push @pids, $p if $cmd =~ /worker process/;
    }
    return sort @pids;
}

# SIGKILLs every worker and waits until as many new ones run
sub kill_workers {
    my @old = worker_pids();
    kill 'KILL', @old;
    my %old = map { $_ => 1 } @old;
    wait_until(sub {
        my @now = worker_pids();
        @now == @old && !grep { $old{$_} } @now;
    }, 10, 'the master to respawn the workers');
}

master_on();
workers(2);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_balance least_conn;
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

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: SIGKILL of every worker while an agent with max_conns=1 serves a request: afterwards the agent takes requests again and new agents are synced
--- init
$main::Agent{x} = FarmTest::start_agent(id => 'x');
FarmTest::put_record($main::Redis, id => 'x', port => $main::Agent{x}{port},
                     max_conns => 1);
FarmTest::wait_until(sub { FarmTest::agent_state('x') eq 'up' }, 5, 'agent x');
my $bg = FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=8000');
FarmTest::wait_until(sub { FarmTest::agent_state('x') eq 'full' }, 5, 'x to be full');
main::kill_workers();
Test::More::is(FarmTest::agent_state('x'), 'up',
               'the dead worker\'s request no longer counts against x');
FarmTest::put_record($main::Redis, id => 'y', port => $main::Agent{x}{port});
FarmTest::wait_until(sub { FarmTest::agent_state('y') eq 'up' }, 5,
                     'the respawned sync owner to add y');
FarmTest::deregister($main::Redis, 'y');
FarmTest::wait_until(sub { FarmTest::agent_state('y') eq 'absent' }, 5, 'y to leave');
--- request
GET /work?ms=0
--- error_code: 200
--- response_headers
X-Farm-Agent: x
--- error_log eval
qr/\[warn\] .*farm: upstream "agents": gave back 1 request\(s\) held on agents by \d+ worker process\(es\) that exited without ending them/
--- no_error_log
[error]
