# farm_kong: a route's request_buffering and response_buffering (Kong's
# route fields, default true).  With response_buffering: false the client
# gets the first bytes of a slow service's answer while the service is
# still writing it; with request_buffering: false the service gets the
# first part of a chunked upload while the client is still sending it.
# The service is t/lib/stream_server.pl: GET /stream writes "first" and
# waits for the test's go-ahead before "rest"; a POST's body is written to
# a file piece by piece as the service receives it.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use IO::Select;
use IO::Socket::INET;

our $S = FarmTest::start_streamer();
our $P = $S->{port};

# reads from $sock until $re matches what came, for up to $secs seconds;
# returns what came (undef if $re never matched)
sub read_until {
    my ($sock, $re, $secs) = @_;
    my ($got, $sel) = ('', IO::Select->new($sock));
    my $deadline = time + $secs;
    while ($got !~ $re) {
        return undef if time > $deadline;
        next unless $sel->can_read(0.2);
        my $n = sysread $sock, $got, 65536, length $got;
        return undef unless $n;
    }
    return $got;
}

sub gateway {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => FarmTest::gateway_port(),
                                 Proto => 'tcp', Timeout => 10)
        or die "connect to the gateway: $!\n";
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# GET /stream: did "first" come before the service was let go on?  Then
# the whole answer.
sub stream_test {
    my $sock = gateway();
    local $SIG{PIPE} = 'IGNORE';
    syswrite $sock, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my $early = read_until($sock, qr/first/, 20);
    FarmTest::streamer_go($S);
    my $all = ($early // '') . (read_until($sock, qr/rest\n/, 30) // '');
    close $sock;
    Test::More::ok(defined $early,
                   'the first bytes reached the client before the service finished');
    Test::More::like($all, qr/first\n.*rest\n/s, 'then the rest of the answer');
}

# a chunked POST /up in two parts: did the service see the first before
# the client sent the second?  Then the answer.
sub upload_test {
    my ($expect_early) = @_;
    unlink $S->{body};
    my $sock = gateway();
    local $SIG{PIPE} = 'IGNORE';
    syswrite $sock, "POST /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  . "Transfer-Encoding: chunked\r\n\r\n5\r\npart1\r\n";
    my $early = $expect_early && eval {
        FarmTest::wait_until(sub { slurp($S->{body}) =~ /part1/ }, 20,
                             'the first part at the service');
    };
    syswrite $sock, "5\r\npart2\r\n0\r\n\r\n";
    my $all = read_until($sock, qr/part1part2/, 30) // '';
    close $sock;
    Test::More::ok(defined $early,
                   'the service got the first part before the client sent the second')
        if $expect_early;
    Test::More::like($all, qr{^HTTP/1\.1 200 .*\r\n\r\npart1part2\z}s,
                     'the service answered with the whole body');
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_http_version 1.1;
        proxy_set_header Host $farm_kong_host;
    }
_EOC_
});

master_on();
no_shuffle();
no_root_location();
run_tests();

FarmTest::stop_streamer($S);

__DATA__

=== TEST 1: response_buffering false: the client reads the first bytes while the service is still answering
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::P
  routes:
  - paths: [/stream]
    strip_path: false
    response_buffering: false
"
--- init
main::stream_test();
--- request
GET /stream
--- error_code: 200
--- response_body
first
rest
--- no_error_log
[error]



=== TEST 2: request_buffering false: the service reads the first part of a chunked upload while the client is still sending it
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::P
  routes:
  - paths: [/up]
    strip_path: false
    request_buffering: false
"
--- init
main::upload_test(1);
--- request
POST /up
hello
--- error_code: 200
--- response_body chomp
hello
--- no_error_log
[error]



=== TEST 3: request_buffering false with proxy_http_version 1.0: a chunked upload is buffered (HTTP/1.0 cannot carry it chunked) and arrives whole
--- config
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
services:
- name: s
  url: http://127.0.0.1:$main::P
  routes:
  - paths: [/up]
    strip_path: false
    request_buffering: false
"
--- init
main::upload_test(0);
--- request
POST /up
hello
--- error_code: 200
--- response_body chomp
hello
--- no_error_log
[error]
