# farm_limit's Redis connection over TLS while Redis does not read: the
# commands pile up in the gateway's output buffer past what the socket
# takes, the buffer grows (moves) while a TLS write waits to be retried,
# and the retry must go on from the new address.  The connection stays up
# (Redis counts no new one) and every request is counted once Redis reads
# again.  Redis is stopped with SIGSTOP (the test's own process, resumed
# whatever happens); the kernel takes about 4 MB to a stopped reader on
# 127.0.0.1, and each request is a 2 kB command (six windows, a 256-byte
# key: longer ones are hashed), so 3000 requests overflow it by 2 MB.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis_tls();
our $RedisPort = $Redis->{port};
our $Requests = 3000;
our $KeyLen = 250;

$ENV{TEST_NGINX_TLS_REDIS_PORT} = $RedisPort;
$ENV{TEST_NGINX_TLS_CA} = $Redis->{tls}{ca};

sub connections_received {
    my $info = FarmTest::redis_cli($Redis, 'INFO', 'stats') // '';
    return $info =~ /^total_connections_received:(\d+)/m ? $1 : undef;
}

# the bytes queued from the gateway to Redis and not yet read by Redis: the
# gateway's send queue and Redis' receive queue (/proc/net/tcp, in hex)
sub queued_to_redis {
    my $sum = 0;
    my $hexport = sprintf '%04X', $RedisPort;
    open my $fh, '<', '/proc/net/tcp' or return 0;
    while (<$fh>) {
        my @f = split;
        next unless @f > 4 && $f[3] eq '01';
        my ($tx, $rx) = map { hex } split /:/, $f[4];
        $sum += $tx if $f[2] =~ /:$hexport$/;
        $sum += $rx if $f[1] =~ /:$hexport$/;
    }
    return $sum;
}

sub log_has {
    my ($re) = @_;
    open my $fh, '<', FarmTest::nginx_error_log() or return 0;
    local $/;
    return scalar(<$fh> =~ $re);
}

sub read_response {
    my ($sock) = @_;
    my $sel = IO::Select->new($sock);
    my $raw = '';
    while ($sel->can_read(60)) {
        my $n = sysread $sock, $raw, 65536, length $raw;
        last unless $n;
    }
    close $sock;
    return $raw;
}

master_on();
workers(1);
worker_connections(4096);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: Redis stops reading while megabytes of commands are sent over TLS: the connection survives its output buffer growing, every request is counted
--- http_config
    farm_limit_redis_trusted_certificate $TEST_NGINX_TLS_CA;
--- config
    location = /t {
        farm_limit zone=tlsload key=$http_x_key second=1000 minute=1000
                   hour=1000 day=1000 month=1000 year=1000 policy=redis
                   timeout=60s
                   redis=rediss://127.0.0.1:$TEST_NGINX_TLS_REDIS_PORT;
        empty_gif;
    }
--- init
my ($status, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/t',
                                      'X-Key' => 'warm');
Test::More::is($status, 200, 'the first request: 200');
FarmTest::wait_until(sub {
    my ($s, $hh) = FarmTest::http_get(FarmTest::gateway_port(), '/t',
                                      'X-Key' => 'warm');
    defined $hh->{'x-ratelimit-remaining-day'};
}, 30, 'the gateway counting in Redis');
my $before = main::connections_received();
my @socks;
kill 'STOP', $main::Redis->{pid};
my $ok = eval {
    for my $i (1 .. $main::Requests) {
        my $key = sprintf('%06d', $i) . ('k' x $main::KeyLen);
        my $s = FarmTest::http_conn(FarmTest::gateway_port())
            or die "cannot connect to the gateway: $!\n";
        local $SIG{PIPE} = 'IGNORE';
        syswrite $s, "GET /t HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Key: $key\r\n"
                     . "Connection: close\r\n\r\n";
        push @socks, $s;
    }
    # the socket to Redis is full: the rest waits in the gateway's buffer
    FarmTest::wait_until(sub {
        main::queued_to_redis() > 3 * 1024 * 1024
            || main::log_has(qr/farm_limit: redis .* is unavailable/);
    }, 120, 'the socket to Redis full');
    1;
};
my $err = $@;
kill 'CONT', $main::Redis->{pid};
die $err unless $ok;
my $counted = grep { main::read_response($_) =~ /^X-RateLimit-Remaining-Day: 999\r$/mi }
              @socks;
Test::More::is($counted, $main::Requests,
               'every request counted in Redis (X-RateLimit-Remaining-Day: 999)');
Test::More::is(main::connections_received(), $before + 1,
               'Redis accepted no new connection (but redis-cli): the one connection stayed up');
--- request
GET /t
--- more_headers
X-Key: warm
--- error_code: 200
--- no_error_log
cannot write
bad write retry
is unavailable
[error]
