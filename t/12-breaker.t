# Passive circuit breakers: failures in a row open an agent's breaker (no
# traffic), the cooldown ends in half-open trials, a good trial closes it, a
# bad one reopens it for twice as long; max_eject= bounds how many agents
# are out at once.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use IO::Socket::INET;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}


# requests (each retried elsewhere if its agent fails) until $cond holds
sub drive_until {
    my ($cond, $what, $path) = @_;
    my $bad = 0;
    wait_until(sub {
        my ($code) = http_get(gateway_port(), $path // '/work?ms=0');
        $bad++ if !defined $code || $code != 200;
        return $cond->();
    }, 15, $what);
    return $bad;
}

# a TCP listener that accepts (in the kernel's backlog) and never answers
sub silent_listener {
    my $s = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "listener: $!\n";
    return $s;
}

# an HTTP server that sends a header promising 100 bytes, sends 50 and
# closes: a response cut in the middle of its body
sub cutting_server {
    my $port = free_port();
    my $code = q{
        use IO::Socket::INET;
        my $l = IO::Socket::INET->new(Listen => 64, LocalAddr => "127.0.0.1",
                                      LocalPort => $ARGV[0], ReuseAddr => 1)
            or die "listen: $!";
        while (my $c = $l->accept) {
            my $req = "";
            while ($req !~ /\r\n\r\n/) {
                my $n = sysread($c, $req, 4096, length $req) or last;
            }
            syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
                         . "X-Farm-Agent: cut\r\n\r\n" . ("x" x 50));
            close $c;
        }
    };
    my $h = background('cutting server', $^X, '-e', $code, $port);
    wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") },
               5, 'the cutting server');
    return $port;
}


add_block_preprocessor(sub {
    my $block = shift;
    my $breaker = $block->breaker // 'failures=2 cooldown=1s max_cooldown=4s half_open=1';
    chomp $breaker;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_breaker $breaker;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_next_upstream error timeout;
        proxy_connect_timeout 300ms;
        proxy_read_timeout 300ms;
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

=== TEST 1: a hung agent: timeouts open its breaker, traffic moves; trials reopen it for longer; it closes once it answers
--- init
main::agents(a => { ttl => '60s' }, hung => { ttl => '60s' });
FarmTest::stop_signal($main::Agent{hung}, 'STOP');
my $bad = main::drive_until(sub { FarmTest::agent_state('hung') eq 'open' }, 'the breaker to open');
Test::More::is($bad, 0, 'no client saw a failure while the breaker opened (retries)');
my $c = FarmTest::spread(6);
Test::More::is($c->{a}, 6, 'with the breaker open, everything goes to a');
# half-open after 1 s; the trial times out: open again, for 2 s
main::drive_until(sub { FarmTest::farm_agents()->{hung}{breaker}{ejections} == 2 },
                  'a failed trial to reopen the breaker');
FarmTest::stop_signal($main::Agent{hung}, 'CONT');
$bad = main::drive_until(sub { FarmTest::agent_state('hung') eq 'up' }, 'the breaker to close');
Test::More::is($bad, 0, 'no client saw a failure');
--- request
GET /farm
--- response_body_like: "id":"hung".*"state":"up".*"breaker":\{"state":"closed","failures_in_a_row":0,"ejections":2\}
--- error_log eval
[qr/farm: breaker of agent "hung" \(127\.0\.0\.1:\d+\) of upstream "agents" opened for 1000 ms after 2 failures in a row/,
 qr/farm: breaker of agent "hung" \(127\.0\.0\.1:\d+\) of upstream "agents" is half-open: up to 1 trial requests/,
 qr/farm: breaker of agent "hung" \(127\.0\.0\.1:\d+\) of upstream "agents" opened for 2000 ms after 1 failure: a trial request failed/,
 qr/farm: breaker of agent "hung" \(127\.0\.0\.1:\d+\) of upstream "agents" closed: a trial request succeeded/]


=== TEST 2: failing statuses count; a success in between resets the count
--- breaker
failures=3 cooldown=30s
--- init
main::agents(x => { ttl => '60s' });
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=500') for 1 .. 2;
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=502') for 1 .. 2;
Test::More::is(FarmTest::agent_state('x'), 'up', 'two, a success, two: still closed');
Test::More::is(FarmTest::farm_agents()->{x}{breaker}{failures_in_a_row}, 2, 'two in a row counted');
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=503');
Test::More::is(FarmTest::agent_state('x'), 'open', 'the third in a row opens it');
--- request
GET /work?ms=0
--- error_code: 503
--- response_headers_like
Retry-After: (?:29|30)
--- response_body
{"error":"no healthy agent available","upstream":"agents","service":"agents","agents":1}
--- error_log
opened for 30000 ms after 3 failures in a row


=== TEST 3: status= chooses what counts as a failure
--- breaker
failures=2 cooldown=30s status=502-504
--- init
main::agents(x => { ttl => '60s' });
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=500') for 1 .. 3;
Test::More::is(FarmTest::agent_state('x'), 'up', '500 does not count with status=502-504');
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=504') for 1 .. 2;
Test::More::is(FarmTest::agent_state('x'), 'open', '504 does');
--- request
GET /farm
--- response_body_like: "id":"x".*"state":"open".*"breaker":\{"state":"open","failures_in_a_row":2,"ejections":1,"half_open_at":\d+\}
--- error_log
opened for 30000 ms


=== TEST 4: max_eject=50%: of two failing agents only one is ejected
--- breaker
failures=2 cooldown=30s max_eject=50%
--- init
main::agents(x => { ttl => '60s' }, y => { ttl => '60s' });
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=500') for 1 .. 8;
my $st = join ',', sort map { FarmTest::agent_state($_) } qw(x y);
Test::More::is($st, 'open,up', 'one open, one still in');
--- request
GET /work?ms=0
--- error_code: 200
--- error_log eval
qr/farm: agent "[xy]" \(127\.0\.0\.1:\d+\) of upstream "agents" failed 2 times in a row but stays in: 1 of 2 agents are ejected already \(max_eject=50%\)/


=== TEST 5: max_eject=0% never ejects
--- breaker
failures=1 max_eject=0%
--- init
main::agents(x => { ttl => '60s' });
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=500') for 1 .. 3;
Test::More::is(FarmTest::agent_state('x'), 'up', 'never ejected');
--- request
GET /work?ms=0
--- error_code: 200
--- error_log
stays in: 0 of 1 agents are ejected already (max_eject=0%)


=== TEST 6: with one agent and the default max_eject, that one can still be ejected
--- breaker
failures=1 cooldown=30s
--- init
main::agents(x => { ttl => '60s' });
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=500');
--- request
GET /farm
--- response_body_like: "id":"x".*"state":"open"
--- error_log
opened for 30000 ms after 1 failure in a row



=== TEST 7: outcomes of requests that outlive their agent do not count against the slot: breakers keep working afterwards
--- breaker
failures=2 cooldown=30s max_eject=50%
--- config
    location / {
        proxy_pass http://agents;
        proxy_next_upstream error timeout;
        proxy_connect_timeout 300ms;
        proxy_read_timeout 1500ms;
    }
    location = /farm {
        farm_status;
    }
--- init
main::agents();
our $Silent1 = main::silent_listener();
FarmTest::put_record($main::Redis, id => 'gone', port => $Silent1->sockport);
FarmTest::wait_until(sub { FarmTest::agent_state('gone') eq 'up' }, 5, 'agent gone');
my @bg = map { FarmTest::background_get(FarmTest::gateway_port(), '/work') } 1 .. 2;
select(undef, undef, undef, 0.3);
FarmTest::deregister($main::Redis, 'gone');
FarmTest::wait_until(sub { FarmTest::agent_state('gone') eq 'absent' }, 5, 'gone to leave');
FarmTest::wait_until(sub { !grep { !FarmTest::finished($_) } @bg }, 10, 'the hung requests to end');
main::agents(good => { ttl => '60s' });
our $Silent2 = main::silent_listener();
FarmTest::put_record($main::Redis, id => 'hung', port => $Silent2->sockport);
FarmTest::wait_until(sub { FarmTest::agent_state('hung') eq 'up' }, 5, 'agent hung');
main::drive_until(sub { FarmTest::agent_state('hung') eq 'open' }, 'the breaker of hung to open');
FarmTest::deregister($main::Redis, 'hung');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
stays in
[alert]



=== TEST 8: an agent that cuts its responses in the middle of the body counts failures and is ejected
--- breaker
failures=2 cooldown=30s
--- init
main::agents(good => { ttl => '60s' });
my $port = main::cutting_server();
FarmTest::put_record($main::Redis, id => 'cut', port => $port);
FarmTest::wait_until(sub { FarmTest::agent_state('cut') eq 'up' }, 5, 'agent cut');
FarmTest::wait_until(sub {
    FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    FarmTest::agent_state('cut') eq 'open';
}, 10, 'the breaker of the cutting agent to open');
my $a = FarmTest::farm_agents()->{cut};
Test::More::cmp_ok($a->{failures}, '>=', 2, 'its cut responses count as failures');
my $c = FarmTest::spread(6);
Test::More::is($c->{good}, 6, 'with its breaker open, everything goes to the good agent');
FarmTest::deregister($main::Redis, 'cut');
--- request
GET /work?ms=0
--- error_code: 200
--- error_log
upstream prematurely closed connection



=== TEST 9: many breakers open at once all half-open when their cooldowns end, each once
--- breaker
failures=1 cooldown=1s max_cooldown=1s max_eject=100%
--- init
main::agents(map { ("f$_" => { ttl => '60s' }) } 1 .. 6);
FarmTest::wait_until(sub {
    FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&status=500');
    !grep { FarmTest::agent_state("f$_") ne 'open' } 1 .. 6;
}, 10, 'every breaker to open');
FarmTest::wait_until(sub {
    !grep { FarmTest::agent_state("f$_") ne 'half_open' } 1 .. 6;
}, 10, 'every breaker to half-open');
my $log = do { local (@ARGV, $/) = FarmTest::nginx_error_log(); <> };
for my $id (map { "f$_" } 1 .. 6) {
    my $n = () = $log =~ /breaker of agent "$id" \S+ of upstream "agents" is half-open/g;
    Test::More::is($n, 1, "$id half-opened once");
}
--- request
GET /farm
--- response_body_like: "state":"half_open"
--- no_error_log
[alert]
