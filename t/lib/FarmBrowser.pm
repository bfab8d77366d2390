package FarmBrowser;

# A headless Chromium for the ngx_farm tests, driven through the DevTools
# protocol over a WebSocket (RFC 6455) written here in core Perl.
#
#     my $b = FarmBrowser->start;          # skips nothing: dies if no chromium
#     $b->navigate("http://127.0.0.1:$port/farm/dashboard#interval=500");
#     $b->wait_js('document.querySelectorAll("#agents tbody tr").length > 0',
#                 20, 'the agent rows');
#     my $n = $b->eval_js('document.title');
#     my @bad = $b->problems;              # console errors, exceptions, CSP
#     $b->stop;                            # by pid, also on die (DESTROY, END)
#
# Chromium runs with a fresh --user-data-dir in a temp dir, on a DevTools
# port of its own choosing (port 0; read from DevToolsActivePort), listening
# on 127.0.0.1 only.  It is started through FarmTest::background, so
# FarmTest stops it by pid even when the test dies; stop() does it at once:
# SIGTERM, then SIGKILL, then SIGKILL to any of its own helper processes
# left behind (found by its unique temp dir in their command line).
#
# CHROMIUM (environment) names another binary.  FarmBrowser::binary()
# returns the binary or undef, for a skip.

use strict;
use warnings;

use Digest::SHA qw(sha1);
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(sleep time);

use FarmTest ();

my @Live;    # started and not stopped yet

sub binary {
    for my $b ($ENV{CHROMIUM}, qw(/usr/bin/chromium /usr/bin/chromium-browser)) {
        return $b if defined $b && -x $b;
    }
    return undef;
}

sub start {
    my ($class, %opt) = @_;
    my $bin = binary()
        or die "FarmBrowser: no chromium (make deps installs Debian's chromium)\n";
    my $dir = File::Temp::tempdir('farm-chromium-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    # HOME too: what chromium writes outside the profile (crash reports)
    # stays in the temp dir, and its helpers carry the dir in their
    # command line, which is how stop() finds any left behind
    my @cmd = ('/usr/bin/env', "HOME=$dir", "XDG_CONFIG_HOME=$dir/.config",
               "XDG_CACHE_HOME=$dir/.cache", $bin, '--headless', '--no-sandbox', '--disable-gpu',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync',
               '--disable-crash-reporter', '--disable-breakpad',
               '--disable-default-apps', '--disable-extensions',
               '--no-default-browser-check', '--mute-audio',
               '--password-store=basic', '--use-mock-keychain',
               "--user-data-dir=$dir", '--remote-debugging-address=127.0.0.1',
               '--remote-debugging-port=0', 'about:blank');
    my $bg = FarmTest::background('chromium', @cmd);
    my $self = bless { pid => $bg->{pid}, log => $bg->{log}, dir => $dir,
                       events => [], next_id => 0, buf => '',
                       json => JSON::PP->new->utf8->canonical }, $class;
    push @Live, $self;

    my $timeout = $opt{timeout} // 60;
    my $port_file = "$dir/DevToolsActivePort";
    eval {
        FarmTest::wait_until(sub {
            die "chromium exited\n" unless kill 0, $self->{pid};
            return -s $port_file && _slurp($port_file) =~ /^\d+\n/;
        }, $timeout, 'chromium to open its DevTools port');
        1;
    } or do {
        my $err = $@;
        $self->stop;
        die "FarmBrowser: $err" . "chromium's output:\n" . _tail($bg->{log});
    };
    ($self->{port}) = _slurp($port_file) =~ /^(\d+)/;

    # the page target chromium opened with about:blank
    my $ws;
    FarmTest::wait_until(sub {
        my ($code, undef, $body) = FarmTest::http_get($self->{port}, '/json/list');
        return 0 unless defined $code && $code == 200;
        my ($page) = grep { $_->{type} eq 'page' } @{ JSON::PP::decode_json($body) };
        $ws = $page && $page->{webSocketDebuggerUrl};
        return $ws;
    }, $timeout, 'a page target in chromium');
    my ($path) = $ws =~ m{^ws://[^/]+(/.*)$}
        or die "FarmBrowser: odd WebSocket URL $ws\n";
    $self->_connect($path);

    $self->call('Runtime.enable');
    $self->call('Log.enable');
    $self->call('Page.enable');
    $self->call('Audits.enable');
    return $self;
}

sub _slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return scalar(<$fh>) // '';
}

sub _tail {
    my @l = split /\n/, _slurp($_[0]);
    @l = @l[-20 .. -1] if @l > 20;
    return join '', map { "    $_\n" } @l;
}

# ---------------------------------------------------------------------------
# WebSocket: the opening handshake, masked client frames, unmasked server
# frames (RFC 6455 sections 4 and 5)
# ---------------------------------------------------------------------------

sub _connect {
    my ($self, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Proto => 'tcp',
                                  Timeout => 10)
        or die "FarmBrowser: connect to the DevTools port: $!\n";
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    syswrite $s, "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$self->{port}\r\n"
               . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n\r\n";
    my $head = '';
    my $sel = IO::Select->new($s);
    while ($head !~ /\r\n\r\n/) {
        $sel->can_read(10) or die "FarmBrowser: no WebSocket handshake answer\n";
        sysread($s, $head, 4096, length $head)
            or die "FarmBrowser: DevTools closed the connection in the handshake\n";
    }
    my ($status, $rest) = $head =~ /\A(.*?)\r\n\r\n(.*)\z/s;
    die "FarmBrowser: WebSocket handshake refused: $status\n"
        unless $status =~ m{^HTTP/1\.1 101 };
    my $accept = encode_base64(sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');
    die "FarmBrowser: bad Sec-WebSocket-Accept\n"
        unless $status =~ /^Sec-WebSocket-Accept:\s*\Q$accept\E\s*$/mi;
    $self->{sock} = $s;
    $self->{buf} = $rest;
}

sub _send_frame {
    my ($self, $opcode, $payload) = @_;
    my $len = length $payload;
    my $frame = chr(0x80 | $opcode);
    if ($len < 126) {
        $frame .= chr(0x80 | $len);
    } elsif ($len < 65536) {
        $frame .= chr(0x80 | 126) . pack('n', $len);
    } else {
        $frame .= chr(0x80 | 127) . pack('Q>', $len);
    }
    my $mask = pack 'N', int rand 2**32;
    my $masked = $payload ^ substr($mask x (int($len / 4) + 1), 0, $len);
    $frame .= $mask . $masked;
    local $SIG{PIPE} = 'IGNORE';
    while (length $frame) {
        my $n = syswrite $self->{sock}, $frame;
        die "FarmBrowser: write to DevTools failed: $!\n" unless defined $n;
        substr($frame, 0, $n, '');
    }
}

# Reads until $self->{buf} holds $n bytes; 0 on timeout.
sub _fill {
    my ($self, $n, $deadline) = @_;
    my $sel = IO::Select->new($self->{sock});
    while (length $self->{buf} < $n) {
        my $left = $deadline - time;
        return 0 if $left <= 0 || !$sel->can_read($left);
        my $r = sysread $self->{sock}, $self->{buf}, 1 << 16, length $self->{buf};
        die "FarmBrowser: DevTools closed the connection\n" unless $r;
    }
    return 1;
}

# One whole message (text), or undef if none came before $deadline.
sub _read_message {
    my ($self, $deadline) = @_;
    my $msg = '';
    while (1) {
        $self->_fill(2, $deadline) or return undef;
        my ($b0, $b1) = map { ord } split //, substr($self->{buf}, 0, 2);
        my $len = $b1 & 0x7f;
        my $hlen = 2;
        if ($len == 126) {
            $self->_fill(4, $deadline + 10) or return undef;
            $len = unpack 'n', substr($self->{buf}, 2, 2);
            $hlen = 4;
        } elsif ($len == 127) {
            $self->_fill(10, $deadline + 10) or return undef;
            $len = unpack 'Q>', substr($self->{buf}, 2, 8);
            $hlen = 10;
        }
        my $mlen = $b1 & 0x80 ? 4 : 0;
        # a frame that has begun is read to its end
        $self->_fill($hlen + $mlen + $len, time + 30)
            or die "FarmBrowser: a DevTools frame stopped in the middle\n";
        my $mask = substr($self->{buf}, $hlen, $mlen);
        my $data = substr($self->{buf}, $hlen + $mlen, $len);
        substr($self->{buf}, 0, $hlen + $mlen + $len, '');
        $data ^= substr($mask x (int($len / 4) + 1), 0, $len) if $mlen;
        my $op = $b0 & 0x0f;
        if ($op == 0x9) {                      # ping
            $self->_send_frame(0xA, $data);
            next;
        }
        next if $op == 0xA;                    # pong
        die "FarmBrowser: DevTools closed the WebSocket\n" if $op == 0x8;
        $msg .= $data;
        return $msg if $b0 & 0x80;             # FIN
    }
}

# ---------------------------------------------------------------------------
# the DevTools protocol
# ---------------------------------------------------------------------------

sub _dispatch {
    my ($self, $text) = @_;
    my $m = $self->{json}->decode($text);
    if (!defined $m->{id}) {
        push @{ $self->{events} }, $m;
        # a dialog would block the page: dismiss it, and remember it
        if ($m->{method} eq 'Page.javascriptDialogOpening') {
            $self->_send('Page.handleJavaScriptDialog', { accept => JSON::PP::false });
        }
    }
    return $m;
}

sub _send {
    my ($self, $method, $params) = @_;
    my $id = ++$self->{next_id};
    $self->_send_frame(0x1, $self->{json}->encode(
        { id => $id, method => $method, params => $params // {} }));
    return $id;
}

# call('Runtime.evaluate', {...}, timeout): the result object; dies on an
# error answer or a timeout.
sub call {
    my ($self, $method, $params, $timeout) = @_;
    my $id = $self->_send($method, $params);
    my $deadline = time + ($timeout // 30);
    while (1) {
        my $text = $self->_read_message($deadline)
            // die "FarmBrowser: no answer to $method in " . ($timeout // 30) . "s\n";
        my $m = $self->_dispatch($text);
        next unless defined $m->{id} && $m->{id} == $id;
        die "FarmBrowser: $method failed: $m->{error}{message}\n" if $m->{error};
        return $m->{result};
    }
}

# Takes the events that have arrived so far, without waiting.
sub pump {
    my ($self) = @_;
    while (defined(my $text = $self->_read_message(time + 0.001))) {
        $self->_dispatch($text);
    }
}

sub navigate {
    my ($self, $url) = @_;
    my $r = $self->call('Page.navigate', { url => $url });
    die "FarmBrowser: navigate to $url: $r->{errorText}\n" if $r->{errorText};
    return $r;
}

# The value of a JavaScript expression (JSON-able values; promises awaited).
sub eval_js {
    my ($self, $expr) = @_;
    my $r = $self->call('Runtime.evaluate', { expression => $expr,
                                              returnByValue => JSON::PP::true,
                                              awaitPromise => JSON::PP::true });
    if ($r->{exceptionDetails}) {
        my $e = $r->{exceptionDetails};
        die "FarmBrowser: $expr: "
            . ($e->{exception}{description} // $e->{text}) . "\n";
    }
    return $r->{result}{value};
}

# Polls $expr until it is true; returns its value.  Dies after $timeout s,
# naming $what and the expression's last value.
sub wait_js {
    my ($self, $expr, $timeout, $what) = @_;
    my $v;
    FarmTest::wait_until(sub {
        $v = $self->eval_js($expr);
        return $v if $v;
        sleep 0.05;
        return 0;
    }, $timeout // 20, $what // $expr);
    return $v;
}

# What went wrong in the page since the last forget(): console errors and
# warnings, uncaught exceptions, log entries at error or warning level (CSP
# violations, failed loads), issues the browser's audits raised, dialogs.
# One line of text each.
sub problems {
    my ($self) = @_;
    $self->pump;
    my @p;
    for my $e (@{ $self->{events} }) {
        my $m = $e->{method};
        my $p = $e->{params};
        if ($m eq 'Runtime.consoleAPICalled' && $p->{type} =~ /^(?:error|warning|assert)$/) {
            push @p, "console.$p->{type}: "
                . join(' ', map { $_->{value} // $_->{description} // '' } @{ $p->{args} });
        } elsif ($m eq 'Runtime.exceptionThrown') {
            my $d = $p->{exceptionDetails};
            push @p, "exception: " . ($d->{exception}{description} // $d->{text});
        } elsif ($m eq 'Log.entryAdded' && $p->{entry}{level} =~ /^(?:error|warning)$/) {
            push @p, "log $p->{entry}{level} ($p->{entry}{source}): $p->{entry}{text}"
                . ($p->{entry}{url} ? " [$p->{entry}{url}]" : '');
        } elsif ($m eq 'Audits.issueAdded') {
            my $i = $p->{issue};
            push @p, "issue $i->{code}: " . $self->{json}->encode($i->{details});
        } elsif ($m eq 'Page.javascriptDialogOpening') {
            push @p, "dialog $p->{type}: $p->{message}";
        }
    }
    return @p;
}

sub forget {
    my ($self) = @_;
    $self->pump;
    $self->{events} = [];
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    @Live = grep { $_ != $self } @Live;
    close $self->{sock} if $self->{sock};
    delete $self->{sock};
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid || !kill 0, $pid;
        sleep 0.05;
    }
    if (kill 0, $pid) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    FarmTest::finished($pid);    # forget it in FarmTest's list of children
    # its zygote, renderers and crash handlers normally go with it; any
    # left are killed by pid, found by this browser's own temp dir
    for my $cmdline (glob '/proc/[0-9]*/cmdline') {
        my ($p) = $cmdline =~ m{^/proc/(\d+)/} or next;
        my $c = _slurp($cmdline);
        kill 'KILL', $p if index($c, $self->{dir}) >= 0;
    }
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->stop if $self->{pid};
}

END {
    local $?;
    $_->stop for @Live;
}

1;
