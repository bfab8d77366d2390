#!/usr/bin/perl
# A tiny HTTP/1.1 app for the farm-agent --app tests, core Perl only.
# One process per connection (keep-alive within it).  Usage:
#
#   app.pl PORT [DOWN_FILE]
#
#   GET  /hello              200 "hello from app", with Content-Length
#   GET  /pid                200, the pid serving this connection
#   GET  /ppid               200, the pid of the app (the listening one)
#   GET  /headers            200, the request head as the body
#   GET  /slow?ms=N          200 after N ms
#   GET  /download?bytes=N   N bytes of 'x' (&chunked=1: chunked, &eof=1:
#                            no length, the end is the close)
#   POST /upload             reads the body (length or chunked) in 64 KB
#                            pieces, answers "got N bytes"
#   GET  /health             200, or 503 while DOWN_FILE exists
#   GET  /ws with Upgrade    101, then echoes every byte back; closes
#                            after echoing "bye"
#   GET  /once               200, the pid serving this connection; the
#                            next request on this connection is read and
#                            logged, then the connection is closed
#                            unanswered (a keep-alive timeout that fires
#                            as a request arrives)
#
# Logs "request METHOD URI" on stderr for each request.  SIGTERM stops the
# children too, unless APP_IGNORE_TERM is set in the environment: then the
# app and its children ignore SIGTERM (a worker that will not stop).

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);

my ($port, $down_file) = @ARGV;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Listen => 128, ReuseAddr => 1, Proto => 'tcp')
    or die "app.pl: listen on $port: $!\n";
STDERR->autoflush(1);

my %kids;
$SIG{TERM} = $ENV{APP_IGNORE_TERM} ? 'IGNORE'
                                   : sub { kill 'KILL', keys %kids; exit 0 };
$SIG{CHLD} = sub { while ((my $k = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $kids{$k} } };

$| = 1;

while (1) {
    my $c = $srv->accept or next;
    my $pid = fork;
    if (!defined $pid) { close $c; next }
    if ($pid) { $kids{$pid} = 1; close $c; next }
    $SIG{TERM} = 'DEFAULT' unless $ENV{APP_IGNORE_TERM};
    close $srv;
    serve($c);
    POSIX::_exit(0);
}

sub read_line {
    my ($c, $buf) = @_;
    while ($$buf !~ /\n/) {
        my $n = sysread $c, $$buf, 65536, length $$buf;
        return undef unless $n;
    }
    $$buf =~ s/^(.*?)\r?\n//;
    return $1;
}

sub read_n {        # reads n bytes, returns how many came; keeps no copy
    my ($c, $buf, $n) = @_;
    my $got = 0;
    while ($got < $n) {
        if (length $$buf) {
            my $take = length $$buf < $n - $got ? length $$buf : $n - $got;
            substr($$buf, 0, $take, '');
            $got += $take;
            next;
        }
        my $r = sysread $c, $$buf, 65536;
        return $got unless $r;
    }
    return $got;
}

sub out {
    my ($c, $data) = @_;
    while (length $data) {
        my $n = syswrite $c, $data;
        return 0 unless defined $n;
        substr($data, 0, $n, '');
    }
    return 1;
}

sub reply {
    my ($c, $code, $body, @h) = @_;
    out($c, "HTTP/1.1 $code X\r\nContent-Length: " . length($body)
            . "\r\nContent-Type: text/plain\r\n" . join('', map { "$_\r\n" } @h)
            . "\r\n$body");
}

sub serve {
    my ($c) = @_;
    my $buf = '';
    my $drop_next = 0;

    while (1) {
        my $line = read_line($c, \$buf) // return;
        next if $line eq '';
        my ($method, $uri) = split / /, $line;
        my (%h, $head);
        $head = "$line\n";
        while (defined(my $l = read_line($c, \$buf))) {
            last if $l eq '';
            $head .= "$l\n";
            $h{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*)$/;
        }
        print STDERR "request $method $uri\n";
        return if $drop_next;
        my ($path, $query) = split /\?/, $uri, 2;
        my %q = map { split /=/, $_, 2 } split /&/, $query // '';

        my $body_bytes = 0;
        if (defined $h{'content-length'}) {
            $body_bytes = read_n($c, \$buf, $h{'content-length'});
        } elsif (($h{'transfer-encoding'} // '') =~ /chunked/i) {
            while (defined(my $size = read_line($c, \$buf))) {
                my $n = hex $size;
                if ($n == 0) { read_line($c, \$buf); last }
                $body_bytes += read_n($c, \$buf, $n);
                read_line($c, \$buf);
            }
        }

        if ($path eq '/pid') {
            reply($c, 200, "$$\n");
        } elsif ($path eq '/once') {
            reply($c, 200, "$$\n");
            $drop_next = 1;
        } elsif ($path eq '/ppid') {
            reply($c, 200, getppid() . "\n");
        } elsif ($path eq '/hello') {
            reply($c, 200, "hello from app\n");
        } elsif ($path eq '/headers') {
            reply($c, 200, $head);
        } elsif ($path eq '/slow') {
            sleep(($q{ms} // 1000) / 1000);
            reply($c, 200, "slept $q{ms}\n");
        } elsif ($path eq '/upload') {
            reply($c, 200, "got $body_bytes bytes\n");
        } elsif ($path eq '/health') {
            if ($down_file && -e $down_file) {
                reply($c, 503, "down\n");
            } else {
                reply($c, 200, "ok\n");
            }
        } elsif ($path eq '/download') {
            my $n = $q{bytes} // 0;
            my $piece = 'x' x 65536;
            if ($q{chunked}) {
                out($c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            } elsif ($q{eof}) {
                out($c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            } else {
                out($c, "HTTP/1.1 200 OK\r\nContent-Length: $n\r\n\r\n");
            }
            while ($n > 0) {
                my $k = $n < 65536 ? $n : 65536;
                my $d = substr($piece, 0, $k);
                out($c, $q{chunked} ? sprintf("%x\r\n%s\r\n", $k, $d) : $d)
                    or return;
                $n -= $k;
            }
            out($c, "0\r\n\r\n") if $q{chunked};
            return if $q{eof};
        } elsif ($path eq '/ws' && ($h{upgrade} // '') =~ /websocket/i) {
            out($c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    . "Connection: Upgrade\r\n\r\n");
            out($c, $buf) if length $buf;
            while (1) {
                my $n = sysread $c, my $d, 65536;
                return unless $n;
                out($c, $d) or return;
                return if $d =~ /bye\z/;
            }
        } else {
            reply($c, 404, "no such page\n");
        }

        return if ($h{connection} // '') =~ /close/i;
    }
}
