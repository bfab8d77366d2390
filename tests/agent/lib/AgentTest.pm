package AgentTest;

# What the farm-agent tests need beyond t/lib/FarmTest.pm: running the
# binary for its exit status and output, HTTP requests left in flight on a
# raw socket, a Redis SUBSCRIBE connection, waiting for an agent to exit
# by itself, and checking agent logs for sanitizer reports.  Core Perl only.

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::More ();
use FindBin ();
use Time::HiRes qw(sleep time);

use FarmTest;

our @EXPORT = qw(
    agent_binary run_agent
    http_start http_pending http_finish json_of
    subscribe next_message
    wait_exit log_has sanitizer_reports check_agent_log
    start_app stop_app app_down rss_kb
);


sub agent_binary {
    return $ENV{FARM_AGENT_BINARY} // repo_root() . '/build/farm-agent';
}


# run_agent(args => [...], env => {...}, timeout => 5)
# Runs the agent to completion; returns (exit code, stdout, stderr).  An
# agent still running after timeout seconds is killed by pid (code 137).
sub run_agent {
    my (%opt) = @_;
    my $out = File::Temp->new;
    my $err = File::Temp->new;
    my $pid = fork // die "fork: $!";

    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out->filename or POSIX::_exit(126);
        open STDERR, '>', $err->filename or POSIX::_exit(126);
        delete $ENV{$_} for grep { /^FARM_/ && $_ ne 'FARM_AGENT_BINARY' }
                            keys %ENV;
        $ENV{$_} = $opt{env}{$_} for keys %{ $opt{env} || {} };
        { no warnings 'exec'; exec { agent_binary() } agent_binary(), @{ $opt{args} || [] }; }
        POSIX::_exit(127);
    }

    my $deadline = time + ($opt{timeout} // 5);
    my $status;

    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $status = $?;
            last;
        }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $status = $?;
            last;
        }
        sleep 0.01;
    }

    local $/;
    open my $o, '<', $out->filename or die;
    open my $e, '<', $err->filename or die;
    my ($stdout, $stderr) = (<$o> // '', <$e> // '');
    my $code = $status & 127 ? 128 + ($status & 127) : $status >> 8;

    return ($code, $stdout, $stderr);
}


# Sends "GET $path" on a new connection and returns the socket without
# reading: the request stays in flight until http_finish.
sub http_start {
    my ($h, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $h->{host},
                                  PeerPort => $h->{port}, Proto => 'tcp',
                                  Timeout => 5)
        or die "connect to $h->{host}:$h->{port}: $!\n";
    local $SIG{PIPE} = 'IGNORE';
    print {$s} "GET $path HTTP/1.1\r\nHost: $h->{host}\r\n"
               . "Connection: close\r\n\r\n";
    return $s;
}


# True while no byte of the response has arrived.
sub http_pending {
    my ($s) = @_;
    return !IO::Select->new($s)->can_read(0);
}


# Reads the whole response; returns ($status, \%headers, $body), or
# (undef, {}, undef) if the connection closed without one.
sub http_finish {
    my ($s, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my $raw = '';
    my $deadline = time + ($timeout // 10);

    while (time < $deadline) {
        next unless $sel->can_read(0.1);
        my $n = sysread $s, $raw, 65536, length $raw;
        last unless $n;
    }

    close $s;

    my ($head, $body) = $raw =~ /\A(.*?)\r\n\r\n(.*)\z/s
        or return (undef, {}, undef);
    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})} or return (undef, {}, undef);
    my %h;
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }

    return ($status, \%h, $body);
}


sub json_of {
    my ($text) = @_;
    my $v = eval { JSON::PP->new->decode($text // '') };
    return $v;
}


# A Redis connection subscribed to $channel.
sub subscribe {
    my ($redis, $channel) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $redis->{port}, Proto => 'tcp',
                                  Timeout => 5)
        or die "connect to redis: $!\n";
    print {$s} "*2\r\n\$9\r\nSUBSCRIBE\r\n\$" . length($channel)
               . "\r\n$channel\r\n";
    my $sub = { sock => $s, buf => '' };
    my $confirm = _array($sub, 5) or die "no SUBSCRIBE confirmation\n";
    return $sub;
}


# Returns the payload of the next message, or undef after $timeout s.
sub next_message {
    my ($sub, $timeout) = @_;
    my $deadline = time + ($timeout // 5);

    while (time < $deadline) {
        my $a = _array($sub, $deadline - time) or return undef;
        return $a->[2] if $a->[0] eq 'message';
    }

    return undef;
}


# Reads one RESP array of bulk strings and integers.
sub _array {
    my ($sub, $timeout) = @_;
    my $deadline = time + $timeout;
    my $sel = IO::Select->new($sub->{sock});

    while (1) {
        my @items;
        my $buf = $sub->{buf};

        if ($buf =~ s/^\*(\d+)\r\n//) {
            my $n = $1;
            while (@items < $n) {
                if ($buf =~ s/^:(-?\d+)\r\n//) {
                    push @items, $1;
                } elsif ($buf =~ /^\$(\d+)\r\n/ && length($buf) >= length($&) + $1 + 2) {
                    my $len = $1;
                    substr($buf, 0, length($&), '');
                    push @items, substr($buf, 0, $len, '');
                    substr($buf, 0, 2, '');
                } else {
                    last;
                }
            }
            if (@items == $n) {
                $sub->{buf} = $buf;
                return \@items;
            }
        }

        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $got = sysread $sub->{sock}, $sub->{buf}, 65536, length $sub->{buf};
        return undef unless $got;
    }
}


# Waits for the agent to exit on its own (no signal sent); returns its
# exit code, or undef if it was still running after $timeout s.
sub wait_exit {
    my ($h, $timeout) = @_;
    my $exited = eval {
        wait_until(sub {
            open my $f, '<', "/proc/$h->{pid}/stat" or return 1;
            my $stat = <$f> // '';
            return $stat =~ /^\d+ \(.*\) Z/;
        }, $timeout // 10, "agent $h->{pid} to exit");
        1;
    };
    return undef unless $exited;
    return stop_agent($h, timeout => 1);     # reaps the zombie
}


sub log_has {
    my ($h, $re) = @_;
    open my $f, '<', $h->{log} or return 0;
    local $/;
    my $text = <$f> // '';
    return $text =~ $re;
}


sub sanitizer_reports {
    my ($h) = @_;
    open my $f, '<', $h->{log} or return ();
    return grep { /ERROR: (?:Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer/ }
           <$f>;
}


# One test: the agent's log has no sanitizer report (call after it exited).
# On any earlier failure in the file, prints the log tail too.
sub check_agent_log {
    my ($h) = @_;
    my @bad = sanitizer_reports($h);
    my $ok = Test::More::ok(!@bad, "no sanitizer report in the log of "
                                   . ($h->{id} // $h->{pid}));
    if (!$ok || !Test::More->builder->is_passing) {
        open my $f, '<', $h->{log};
        my @lines = $f ? <$f> : ();
        @lines = @lines[-40 .. -1] if @lines > 40;
        Test::More::diag("log $h->{log}:\n", map { "  $_" } @lines);
    }
    return $ok;
}

# start_app() starts tests/agent/lib/app.pl on a free loopback port and
# waits until it accepts; returns {port, pid, log, down}.  Touching
# $app->{down} (app_down($app, 1)) makes its /health answer 503.
sub start_app {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $dir = File::Temp::tempdir('farmapp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $app = { port => $port, log => "$dir/app.log", down => "$dir/down" };
    $app->{pid} = FarmTest::_spawn("app.pl $port", $app->{log}, {},
                                   $^X, "$FindBin::Bin/lib/app.pl", $port,
                                   $app->{down});
    wait_until(sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp')
    }, 10, "app.pl on port $port");
    return $app;
}


sub stop_app {
    my ($app) = @_;
    return FarmTest::_stop_pid($app->{pid}, 'TERM', 5);
}


sub app_down {
    my ($app, $down) = @_;
    if ($down) {
        open my $f, '>', $app->{down} or die "$app->{down}: $!";
        close $f;
    } else {
        unlink $app->{down};
    }
}


# Resident memory of a process in kB (VmRSS), or VmHWM with $peak.
sub rss_kb {
    my ($pid, $peak) = @_;
    open my $f, '<', "/proc/$pid/status" or return undef;
    my $want = $peak ? 'VmHWM' : 'VmRSS';
    while (<$f>) {
        return $1 if /^$want:\s+(\d+) kB/;
    }
    return undef;
}

1;
