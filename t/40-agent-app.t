# farm-agent --app through the gateway: two agents, each in front of its own
# small app (tests/agent/lib/app.pl).  The gateway checks /_farm/health;
# an app that dies is routed around with no failed request, a draining
# agent costs no request, and a WebSocket passes through gateway and agent.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use IO::Select;
use IO::Socket::INET;

our $Redis = start_redis();
our (%Agent, %App);

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

# the app for agent $id: started once, on a port that stays its own
sub app {
    my ($id) = @_;
    my $app = $App{$id} //= { port => free_port() };
    return $app if $app->{pid} && kill 0, $app->{pid};
    my $log = File::Spec->catfile(FarmTest::_tmpdir(), "app-$id.log");
    $app->{pid} = FarmTest::_spawn("app.pl for $id", $log, {}, $^X,
                                   repo_root() . '/tests/agent/lib/app.pl',
                                   $app->{port});
    wait_until(sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $app->{port}, Proto => 'tcp')
    }, 10, "the app of $id");
    return $app;
}

sub stop_app {
    my ($id) = @_;
    FarmTest::_stop_pid($App{$id}{pid}, 'KILL', 5);
    delete $App{$id}{pid};
}

# agents a1 and a2, each in front of its app, up at the gateway
sub agents {
    my %want;
    for my $id (@_) {
        my $app = app($id);
        $want{$id} = { extra => ['--app', "http://127.0.0.1:$app->{port}",
                                 '--app-health', '/health',
                                 '--app-health-interval', '100ms'] };
    }
    ensure_agents($Redis, \%Agent, %want);
    for my $id (@_) {
        wait_until(sub { farm_agents()->{$id}{state} eq 'up' }, 5, "$id up");
    }
}

# wrk for $seconds against $path; $during->() runs once the load is on
sub under_load {
    my ($seconds, $path, $during) = @_;
    my $wrk = background('wrk', 'wrk', '-t1', '-c8', "-d${seconds}s",
                         'http://127.0.0.1:' . gateway_port() . $path);
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
        farm_health_check uri=/_farm/health interval=200ms timeout=300ms
                          rise=2 fall=2;
        keepalive 16;
    }
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      "";
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_http_version 1.1;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Upgrade $http_upgrade;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_connect_timeout 300ms;
        proxy_read_timeout 5s;
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

=== TEST 1: requests reach both apps through gateway and agents
--- init
main::agents('a1', 'a2');
my %seen;
for (1 .. 20) {
    my ($st, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/hello');
    $seen{$h->{'x-farm-agent'} // '?'}++ if ($st // 0) == 200;
}
Test::More::is(join(',', sort keys %seen), 'a1,a2', 'both agents forwarded');
--- request
GET /hello
--- error_code: 200
--- response_body
hello from app
--- no_error_log
[error]



=== TEST 2: the app behind a1 dies under load: no failed request, a1 is taken out; it comes back with its app
--- init
main::agents('a1', 'a2');
my $r = main::under_load(3, '/hello', sub {
    main::stop_app('a1');
    FarmTest::wait_until(sub { FarmTest::farm_agents()->{a1}{state} ne 'up' }, 5,
                         'a1 taken out');
});
Test::More::cmp_ok($r->{total}, '>', 100, "wrk sent $r->{total} requests");
Test::More::is($r->{non2xx}, 0, 'no non-2xx response') or Test::More::diag($r->{out});
Test::More::is($r->{errors}, '', 'no socket error') or Test::More::diag($r->{out});
main::app('a1');
FarmTest::wait_until(sub { FarmTest::farm_agents()->{a1}{state} eq 'up' }, 10, 'a1 back');
--- request
GET /hello
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: SIGTERM to a1 under load: it drains, no failed request
--- init
main::agents('a1', 'a2');
my $r = main::under_load(3, '/slow?ms=20', sub {
    FarmTest::stop_agent(delete $main::Agent{a1});
});
Test::More::cmp_ok($r->{total}, '>', 20, "wrk sent $r->{total} requests");
Test::More::is($r->{non2xx}, 0, 'no non-2xx response') or Test::More::diag($r->{out});
Test::More::is($r->{errors}, '', 'no socket error') or Test::More::diag($r->{out});
--- request
GET /hello
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: a WebSocket-style upgrade passes through gateway and agent
--- init
main::agents('a1', 'a2');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => FarmTest::gateway_port(),
                              Proto => 'tcp', Timeout => 5) or die "connect: $!";
print {$s} "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           . "Connection: Upgrade\r\n\r\n";
my $got = '';
my $sel = IO::Select->new($s);
my $until = sub {
    my ($re) = @_;
    my $deadline = time + 5;
    while (time < $deadline && $got !~ $re) {
        next unless $sel->can_read(0.1);
        sysread($s, $got, 4096, length $got) or last;
    }
};
$until->(qr/\r\n\r\n/);
Test::More::like($got, qr{^HTTP/1\.1 101 }, '101 through the gateway');
print {$s} "frame-1";
$until->(qr/frame-1/);
Test::More::like($got, qr/\r\n\r\nframe-1\z/, 'bytes echo back through both');
close $s;
--- request
GET /hello
--- error_code: 200
--- no_error_log
[error]
