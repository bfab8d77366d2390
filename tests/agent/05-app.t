# farm-agent --app: in front of the user's own HTTP server (a small Perl
# app, tests/agent/lib/app.pl).  Forwarding, the reserved /_farm/ prefix,
# X-Forwarded-*, keep-alive to the app, bodies streamed both ways with the
# agent's memory flat, WebSocket-style upgrades, --max-conns, the app's
# health passed through, and the drain with requests and tunnels in flight.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $app = start_app();
my $app_url = "http://127.0.0.1:$app->{port}";

sub app_agent {
    my (%opt) = @_;
    my $extra = delete $opt{extra} || [];
    return start_agent(%opt, extra => ['--app', $app_url,
                                       '--app-health', '/health',
                                       '--app-health-interval', '100ms',
                                       @$extra]);
}

sub health {
    my ($a) = @_;
    my ($st, undef, $body) = http_get($a, '/_farm/health');
    return ($st // 0, json_of($body) // {});
}

sub app_log_count {
    my ($re) = @_;
    open my $f, '<', $app->{log} or return 0;
    return scalar grep { $_ =~ $re } <$f>;
}

# A raw connection with a request head written; returns the socket.
sub raw_request {
    my ($a, $head) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $a->{port}, Proto => 'tcp',
                                  Timeout => 5) or die "connect: $!";
    local $SIG{PIPE} = 'IGNORE';
    print {$s} $head;
    return $s;
}

# Reads from $s until $re matches what came, or $timeout s; returns it.
sub read_until {
    my ($s, $re, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $deadline = time + ($timeout // 5);
    while (time < $deadline && $buf !~ $re) {
        next unless $sel->can_read(0.1);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    return $buf;
}

# Forwarding, the reserved prefix, X-Forwarded-*, keep-alive to the app

{
    my $a = app_agent(id => 'app1');
    wait_until(sub { (health($a))[0] == 200 }, 5, 'the app to be up');

    my ($st, $h, $body) = http_get($a, '/hello');
    is($st, 200, 'GET /hello is forwarded: 200');
    is($body, "hello from app\n", '... with the app\'s body');
    is($h->{'x-farm-agent'}, 'app1', '... and X-Farm-Agent: app1');

    ($st, $h, $body) = http_get($a, '/headers',
                                'X-Forwarded-For' => '10.1.2.3');
    like($body, qr/^X-Forwarded-For: 10\.1\.2\.3, 127\.0\.0\.1$/m,
         'X-Forwarded-For: the client address is appended');
    like($body, qr/^X-Forwarded-Proto: http$/m, 'X-Forwarded-Proto: http');
    ($st, $h, $body) = http_get($a, '/headers');
    like($body, qr/^X-Forwarded-For: 127\.0\.0\.1$/m,
         'X-Forwarded-For set when the client sent none');

    ($st, $h, $body) = http_get($a, '/health');
    is($body, "ok\n", '/health is the app\'s, not the agent\'s');
    ($st, $h, $body) = http_get($a, '/metrics');
    is($st, 404, '/metrics is the app\'s too (it has none: 404)');

    my ($code, $j) = health($a);
    is($code, 200, '/_farm/health: 200');
    is($j->{id}, 'app1', '/_farm/health is the agent\'s');
    is($j->{app}{status}, 'up', '/_farm/health: app up');
    ok($j->{load}{cpus} >= 1 && $j->{load}{mem_total_kb} > 0
       && $j->{load}{rss_kb} > 0, '/_farm/health: load and memory');
    like((http_get($a, '/_farm/metrics'))[2],
         qr/^farm_agent_app_up 1$/m, '/_farm/metrics: farm_agent_app_up 1');
    like((http_get($a, '/_farm/metrics'))[2],
         qr/^farm_agent_load1 [\d.]+$/m, '/_farm/metrics: farm_agent_load1');
    ($st) = http_get($a, '/_farm/nothing');
    is($st, 404, '/_farm/nothing: 404 from the agent');

    my ($p1) = (http_get($a, '/pid'))[2];
    my ($p2) = (http_get($a, '/pid'))[2];
    is($p2, $p1, 'two client connections, one kept-alive app connection');

    # the app closes its kept-alive connection as the next request
    # arrives: the agent sends that request once more, on a new connection
    my $seen = app_log_count(qr/^request GET \/pid\?stale$/);
    my ($once) = (http_get($a, '/once'))[2];
    ($st, $h, $body) = http_get($a, '/pid?stale');
    is($st, 200, 'a request on a kept-alive app connection the app closes: '
                 . 'retried, 200');
    ok(defined $body && $body ne $once,
       '... answered on a new app connection');
    is(app_log_count(qr/^request GET \/pid\?stale$/) - $seen, 2,
       '... the app saw it twice (dropped once, then answered)');

    # pipelined requests on one client connection are answered in order
    my $s = raw_request($a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                            . "GET /slow?ms=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                            . "GET /_farm/health HTTP/1.1\r\nHost: x\r\n"
                            . "Connection: close\r\n\r\n");
    my $all = read_until($s, qr/"id":"app1".*\n\z/s, 5);
    close $s;
    like($all, qr/hello from app.*slept 10.*"id":"app1"/s,
         'pipelined: three answers, in order');

    # bodies: chunked both ways, and an answer that ends with the close
    ($st, $h, $body) = http_get($a, '/download?bytes=300000&chunked=1');
    is(length($body // ''), 300000, 'a chunked download arrives whole');
    ($st, $h, $body) = http_get($a, '/download?bytes=300000&eof=1');
    is(length($body // ''), 300000,
       'a download that ends at the app\'s close arrives whole');
    $s = raw_request($a, "POST /upload HTTP/1.1\r\nHost: x\r\n"
                         . "Transfer-Encoding: chunked\r\n"
                         . "Connection: close\r\n\r\n"
                         . "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n");
    like(read_until($s, qr/bytes/, 5), qr/got 8 bytes/,
         'a chunked upload reaches the app');
    close $s;

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# 200 MB each way through the agent: its memory stays flat

{
    my $a = app_agent(id => 'app2');
    my $mb = 200;
    my $before = rss_kb($a->{pid});

    my $s = raw_request($a, "POST /upload HTTP/1.1\r\nHost: x\r\n"
                            . "Content-Length: " . ($mb << 20) . "\r\n"
                            . "Connection: close\r\n\r\n");
    my $piece = 'y' x (1 << 20);
    local $SIG{PIPE} = 'IGNORE';
    for (1 .. $mb) {
        my $off = 0;
        while ($off < length $piece) {
            my $n = syswrite $s, $piece, length($piece) - $off, $off;
            die "upload: $!" unless defined $n;
            $off += $n;
        }
    }
    like(read_until($s, qr/bytes/, 60), qr/got ${\($mb << 20)} bytes/,
         "a $mb MB upload reaches the app whole");
    close $s;

    $s = raw_request($a, "GET /download?bytes=" . ($mb << 20) . " HTTP/1.1\r\n"
                         . "Host: x\r\nConnection: close\r\n\r\n");
    my $sel = IO::Select->new($s);
    my ($got, $head, $buf) = (0, undef, '');
    my $deadline = time + 120;
    while (time < $deadline) {
        next unless $sel->can_read(0.5);
        my $n = sysread $s, $buf, 1 << 20, length $buf;
        last unless $n;
        if (!defined $head && $buf =~ s/\A(.*?\r\n\r\n)//s) {
            $head = $1;
        }
        if (defined $head) {
            $got += length $buf;
            $buf = '';
        }
    }
    close $s;
    is($got, $mb << 20, "a $mb MB download reaches the client whole");

    my $peak = rss_kb($a->{pid}, 1);
    my $growth = ($peak - $before) / 1024;
    SKIP: {
        # AddressSanitizer keeps freed memory in quarantine (256 MB)
        skip 'memory is not measured under AddressSanitizer', 1
            if agent_binary() =~ /asan/;
        ok($growth < 20, sprintf("the agent's peak memory grew by %.1f MB "
                                 . "(< 20 MB) for %d MB each way", $growth,
                                 $mb));
    }

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# an upgrade (WebSocket handshake) becomes a raw tunnel after the 101

{
    my $a = app_agent(id => 'app3');
    my $s = raw_request($a, "GET /ws HTTP/1.1\r\nHost: x\r\n"
                            . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            . "Sec-WebSocket-Version: 13\r\n\r\nearly-bytes");
    my $got = read_until($s, qr/early-bytes/, 5);
    like($got, qr{\AHTTP/1\.1 101 }, 'upgrade: 101 passed through');
    like($got, qr/^Upgrade: websocket\r$/mi, '... with Upgrade: websocket');
    like($got, qr/\r\n\r\nearly-bytes\z/,
         'bytes sent right behind the request head reach the app');

    print {$s} "\x81\x05hello\x00\xff binary";
    like(read_until($s, qr/binary/, 5), qr/\x81\x05hello\x00\xff binary\z/,
         'raw bytes go both ways through the tunnel');
    like((http_get($a, '/_farm/metrics'))[2], qr/^farm_agent_tunnels 1$/m,
         'farm_agent_tunnels 1');
    is((health($a))[1]{inflight}, 1, 'an open tunnel counts in inflight');
    close $s;
    wait_until(sub { (health($a))[1]{inflight} == 0 }, 5,
               'the tunnel to close');
    pass('closing the client closes the tunnel');

    # the app ends a tunnel
    $s = raw_request($a, "GET /ws HTTP/1.1\r\nHost: x\r\n"
                         . "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    like(read_until($s, qr/\r\n\r\n/, 5), qr{^HTTP/1\.1 101 }, 'tunnel 2');
    print {$s} "bye";
    like(read_until($s, qr/bye/, 5), qr/bye\z/, 'the last bytes arrive');
    my $sel = IO::Select->new($s);
    wait_until(sub { $sel->can_read(0.1) && !sysread($s, my $x, 1) }, 5,
               'the agent to close the client side');
    close $s;
    my $m = (http_get($a, '/_farm/metrics'))[2];
    like($m, qr/^farm_agent_tunnels 0$/m,
         'the app closed the tunnel: farm_agent_tunnels 0');
    like($m, qr/^farm_agent_cut_off_total 0$/m,
         '... and it counts as served, not cut off');

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# --max-conns: over the cap, 503 + Retry-After, and the app never sees it

{
    my $a = app_agent(id => 'app4', max_conns => 2);
    my @slow = map { http_start($a, "/slow?ms=1500&n=$_") } 1 .. 2;
    wait_until(sub { (health($a))[1]{inflight} == 2 }, 5, '2 in flight');

    my ($st, $h, $body) = http_get($a, '/hello?over-the-cap');
    is($st, 503, 'the third request: 503');
    is($h->{'retry-after'}, '1', '... with Retry-After: 1');
    like($body, qr/agent at capacity/, '... and a reason');
    is(app_log_count(qr/over-the-cap/), 0, 'the app never saw it');
    like((http_get($a, '/_farm/metrics'))[2],
         qr/^farm_agent_rejected_total 1$/m, 'farm_agent_rejected_total 1');

    is((http_finish($_, 10))[0], 200, 'a request in flight completes')
        for @slow;
    ($st) = http_get($a, '/hello');
    is($st, 200, 'under the cap again: 200');

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# timeouts and the connection cap

{
    my $a = app_agent(id => 'app4b', extra => ['--app-timeout', '300ms',
                                               '--max-clients', '2']);
    my ($st, $h, $body) = http_get($a, '/slow?ms=2000');
    is($st, 504, 'the app silent past --app-timeout 300ms: 504');
    like($body, qr/app timed out/, '... "app timed out"');
    ($st, $h, $body) = http_get($a, '/slow?ms=10');
    is($st, 200, 'a quick answer within --app-timeout: 200');
    ($st, $h) = do {
        my $s = raw_request($a, "HEAD /hello HTTP/1.1\r\nHost: x\r\n"
                                . "Connection: close\r\n\r\n");
        my $got = read_until($s, qr/\r\n\r\n/, 5);
        close $s;
        ($got =~ m{^HTTP/1\.1 (\d+)} ? $1 : undef, $got);
    };
    is($st, 200, 'HEAD: 200');
    like($h, qr/^Content-Length: 15\r$/m, 'HEAD: the length of the GET body');

    my @held = map { raw_request($a, '') } 1 .. 2;
    # the kernel queues the three in order and the agent accepts in order
    my $third = raw_request($a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    is(read_until($third, qr/hello/, 3), '',
       '--max-clients 2: a third connection is closed unanswered');
    close $_ for $third, @held;
    ok(log_has($a, qr/warn: --max-clients 2 reached/), 'log: --max-clients');

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# --client-timeout times the client between requests, not while the app
# works on its answer

{
    my $a = app_agent(id => 'app4c', extra => ['--client-timeout', '300ms']);
    my ($st, $h, $body) = http_get($a, '/slow?ms=1000');
    is($st, 200, 'an answer taking longer than --client-timeout 300ms: 200');
    my $s = raw_request($a, '');
    my $sel = IO::Select->new($s);
    wait_until(sub { $sel->can_read(0.1) && !sysread($s, my $x, 1) }, 5,
               'the idle connection to be closed');
    pass('an idle client connection is closed after --client-timeout');
    close $s;
    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# health pass-through: the app's check fails -> /_farm/health 503 at once,
# then deregistered after --app-down-grace; back when it recovers

{
    my $r = start_redis();
    my $key = 'farm:agents:agent:app5';
    my $a = app_agent(id => 'app5', registry => $r->{url},
                      extra => ['--app-down-grace', '1s',
                                '--app-health-fall', '1']);
    is(redis_cmd($r, 'EXISTS', $key), 1, 'registered while the app is up');

    app_down($app, 1);
    my $t0 = time;
    wait_until(sub { (health($a))[0] == 503 }, 5, '/_farm/health 503');
    my ($code, $j) = health($a);
    is($j->{status}, 'app-down', 'app down: status "app-down"');
    ok($j->{draining}, 'app down: "draining": true, the gateway stops at once');
    is($j->{app}{last_error}, 'answered 503', 'app down: last_error');
    is(redis_cmd($r, 'EXISTS', $key), 1,
       'within the grace period the record stays');
    wait_until(sub { redis_cmd($r, 'EXISTS', $key) == 0 }, 10,
               'the record to be removed');
    ok(time - $t0 >= 0.9, 'deregistered after --app-down-grace 1s');
    ok(log_has($a, qr/warn: app \S+ is down \(answered 503\)/),
       'log: app is down');

    app_down($app, 0);
    wait_until(sub { redis_cmd($r, 'EXISTS', $key) == 1 }, 10,
               'the record to come back');
    is((health($a))[0], 200, 'app back: /_farm/health 200');
    ok(log_has($a, qr/info: app \S+ is up/), 'log: app is up');

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
    stop_redis($r);
}

# the app dies: a forward that cannot connect gets 502 and the agent
# reports the app down at once, before its next check

{
    my $app2 = start_app();
    my $a = start_agent(id => 'app6',
                        extra => ['--app', "http://127.0.0.1:$app2->{port}",
                                  '--app-health', '/health',
                                  '--app-health-interval', '10s']);
    wait_until(sub { (health($a))[0] == 200 }, 5, 'the app to be up');
    stop_app($app2);

    my ($st, $h, $body) = http_get($a, '/hello');
    is($st, 502, 'app gone: 502');
    like($body, qr/app unreachable/, '... "app unreachable"');
    my ($code, $j) = health($a);
    is($code, 503, 'at once /_farm/health 503 (the next check is 10 s away)');
    like($j->{app}{last_error}, qr/cannot connect/, '... cannot connect');

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
}

# SIGTERM: deregister, finish the requests and tunnels in flight, exit 0

{
    my $r = start_redis();
    my $a = app_agent(id => 'app7', registry => $r->{url});
    my $slow = http_start($a, '/slow?ms=1500');
    my $ws = raw_request($a, "GET /ws HTTP/1.1\r\nHost: x\r\n"
                             . "Upgrade: websocket\r\nConnection: Upgrade"
                             . "\r\n\r\n");
    like(read_until($ws, qr/\r\n\r\n/, 5), qr/^HTTP\/1\.1 101/, 'tunnel open');
    wait_until(sub { (health($a))[1]{inflight} == 2 }, 5, '2 in flight');

    stop_signal($a, 'TERM');
    wait_until(sub { redis_cmd($r, 'EXISTS', 'farm:agents:agent:app7') == 0 },
               5, 'deregistration');
    pass('SIGTERM: deregistered first');

    my ($st) = http_finish($slow, 10);
    is($st, 200, 'the request in flight completes with 200');

    # the gateway's linger is over: new connections are refused
    wait_until(sub { log_has($a, qr/SIGTERM/) }, 5, 'the log');
    wait_until(sub {
        !IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                               PeerPort => $a->{port}, Proto => 'tcp')
    }, 5, 'the listener to close');
    pass('after the linger: no new connections');

    print {$ws} "still-here";
    like(read_until($ws, qr/still-here/, 5), qr/still-here\z/,
         'the open tunnel still works while draining');
    ok(!defined wait_exit($a, 0.5), 'the agent waits for the tunnel');
    close $ws;
    is(wait_exit($a, 10), 0, 'the tunnel closed: exit 0');
    ok(log_has($a, qr/drained: no request in progress, exiting/),
       'log: drained');
    check_agent_log($a);
    stop_redis($r);
}

# --register-only: the record advertises the app; down -> deregistered

{
    my $r = start_redis();
    my $key = 'farm:agents:agent:app8';
    my $a = start_agent(id => 'app8', registry => $r->{url},
                        extra => ['--app', $app_url, '--register-only',
                                  '--app-health', '/health',
                                  '--app-health-interval', '100ms',
                                  '--app-health-fall', '1']);
    my $rec = json_of(redis_cmd($r, 'GET', $key));
    is("$rec->{address}:$rec->{port}", "127.0.0.1:$app->{port}",
       'register-only: the record holds the app\'s address');
    my ($st, undef, $body) = http_get($a, '/health');
    is($st, 200, 'the agent still answers its own /health');

    app_down($app, 1);
    wait_until(sub { redis_cmd($r, 'EXISTS', $key) == 0 }, 5,
               'the record to go');
    pass('register-only: app down, record removed at once');
    app_down($app, 0);
    wait_until(sub { redis_cmd($r, 'EXISTS', $key) == 1 }, 5,
               'the record to come back');
    pass('register-only: app up, record back');

    is(stop_agent($a), 0, 'exit 0');
    check_agent_log($a);
    stop_redis($r);
}

stop_app($app);

done_testing();
