package FarmTest;

# Helpers for the ngx_farm test suites (t/*.t, tests/agent/*.t): free ports,
# throw-away redis-server and Consul dev agents, farm-agent processes, a tiny
# Redis client, a tiny HTTP client and polling.  Core Perl only; works under
# the real Test::Nginx and under our t/harness alike.
#
# Every process started here is remembered by pid and stopped by pid (never
# by name) when the test file ends -- normally, by die, or by SIGINT/SIGTERM
# -- so no add_cleanup_handler is needed.  On Linux the children also get
# PR_SET_PDEATHSIG, so even a SIGKILLed test leaves nothing behind.
#
# See the POD at the end for the API.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use Cwd ();
use File::Basename ();
use File::Spec ();
use File::Temp ();
use HTTP::Tiny ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    free_port
    start_redis stop_redis restart_redis redis_cmd
    start_redis_tls redis_cli
    start_consul stop_consul restart_consul consul_api consul_binary
    start_agent stop_agent kill_agent stop_signal
    http_get wait_until
    servroot nginx_pid nginx_error_log
    repo_root
    gateway_port farm_status farm_agents background_get finished
    ensure_agents deregister background finish
    start_nginx stop_nginx
    spread spread_text agent_state put_record
    worker_pids process_peer proc_status_kb
    http_conn http_on nginx_workers
    http_request temp_file
    registry_kind start_registry builtin_registry registry_directive
    registry_ids
    registry_url registry_location registry_call
);

our $HttpTimeout = 5;    # seconds, for http_get
our $HttpError;          # why the last http_get returned no status
our $Verbose = $ENV{FARM_TEST_VERBOSE};

my $MainPid = $$;
my %Children;            # pid => description, for everything we started
my %UsedPorts;

# <repo>/t/lib/FarmTest.pm -> <repo>
my $RepoRoot = Cwd::abs_path(
    File::Spec->catdir(File::Basename::dirname(__FILE__), File::Spec->updir,
                       File::Spec->updir));

sub repo_root { $RepoRoot }

# One temp dir per test process for logs and redis data; kept on failure
# when FARM_TEST_KEEP=1.
my $TmpDir;
sub _tmpdir {
    $TmpDir //= File::Temp::tempdir('farmtest-XXXXXX', TMPDIR => 1,
                                    CLEANUP => !$ENV{FARM_TEST_KEEP});
    return $TmpDir;
}

# temp_file('admin.token', "text\n"): writes a file in the test's temp dir
# (removed with it) and returns its path.
sub temp_file {
    my ($name, $content) = @_;
    my $path = File::Spec->catfile(_tmpdir(), $name);
    open my $fh, '>', $path or die "FarmTest: temp_file: $path: $!\n";
    print {$fh} $content;
    close $fh or die "FarmTest: temp_file: $path: $!\n";
    return $path;
}

# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------

my $PrctlNr = { x86_64 => 157, aarch64 => 167 }->{ (POSIX::uname())[4] };

# fork + exec @cmd with stdout/stderr appended to $log; returns the pid.
sub _spawn {
    my ($what, $log, $env, @cmd) = @_;
    my $pid = fork;
    die "FarmTest: fork failed: $!\n" unless defined $pid;
    if (!$pid) {
        # child: die with the test process even if it is SIGKILLed
        syscall($PrctlNr, 1, 9, 0, 0, 0) if $PrctlNr && $^O eq 'linux';
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        if ($env && delete $env->{-clean_farm_env}) {
            # farm-agent takes defaults from FARM_* variables: do not let the
            # caller's environment leak into the test (FARM_LOG_LEVEL may).
            delete @ENV{ grep { /^FARM_/ && $_ ne 'FARM_LOG_LEVEL' } keys %ENV };
        }
        $ENV{$_} = $env->{$_} for keys %{ $env || {} };
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "FarmTest: cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $Children{$pid} = $what;
    print STDERR "# FarmTest: started $what (pid $pid): @cmd\n" if $Verbose;
    return $pid;
}

# Has $pid exited?  Reaps it and stores the wait status in $$status.
sub _reaped {
    my ($pid, $status) = @_;
    my $r = waitpid($pid, WNOHANG);
    return 0 if $r == 0;
    $$status = $? if $r == $pid && $status;
    delete $Children{$pid};
    return 1;
}

# Signal $pid and wait up to $timeout s for it to exit; SIGKILL after that.
# Returns the shell-style exit code (exit status, or 128 + signal number).
sub _stop_pid {
    my ($pid, $sig, $timeout) = @_;
    return undef unless $pid && $Children{$pid};
    my $status;
    kill $sig, $pid;
    my $deadline = time + $timeout;
    until (_reaped($pid, \$status)) {
        if (time > $deadline) {
            warn "FarmTest: $Children{$pid} (pid $pid) did not exit after SIG$sig "
                 . "in ${timeout}s; sending SIGKILL\n";
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $status = $?;
            delete $Children{$pid};
            last;
        }
        sleep 0.01;
    }
    return undef unless defined $status;
    return $status & 127 ? 128 + ($status & 127) : $status >> 8;
}

sub _log_tail {
    my ($file, $n) = @_;
    open my $fh, '<', $file or return "(no log)";
    my @lines = <$fh>;
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join '', map { "    $_" } @lines;
}

sub _cleanup_all {
    return unless $$ == $MainPid;
    for my $pid (sort { $b <=> $a } keys %Children) {    # newest first
        _stop_pid($pid, 'TERM', 5);
    }
}

# A test that failed shows what its start_nginx() gateways logged (the one
# Test::Nginx runs is shown by the harness), before the temp dir goes.
my @Gateways;

sub _show_gateway_logs {
    return unless $$ == $MainPid && @Gateways && Test::More->can('builder');
    return if Test::More->builder->is_passing;
    for my $h (@Gateways) {
        open my $fh, '<', $h->{error_log} or next;
        my @lines = <$fh>;
        my @important = grep { /\[(?:emerg|alert|crit|error|warn)\]/ } @lines;
        my $what = @important ? '[emerg]..[warn] lines' : 'last lines';
        my @show = @important ? @important : @lines;
        @show = @show[-50 .. -1] if @show > 50;
        Test::More::diag("nginx $h->{name} (start_nginx): $what of $h->{error_log}:\n"
                         . join '', map { "    $_" } @show);
    }
}

END {
    local $?;    # keep the test's exit status
    _show_gateway_logs();
    _cleanup_all();
}

for my $sig (qw(INT TERM)) {
    my $cur = $SIG{$sig};
    next if ref $cur || (defined $cur && $cur eq 'IGNORE');
    my $num = $sig eq 'INT' ? 2 : 15;
    $SIG{$sig} = sub { warn "caught SIG$sig, cleaning up\n"; exit(128 + $num) };
}

# ---------------------------------------------------------------------------
# ports, polling
# ---------------------------------------------------------------------------

# A port nothing listens on, taken below the kernel's ephemeral range: a
# port the kernel hands out (LocalPort 0) can be taken again, between this
# check and the server's bind, by any outgoing connection of the test
# (nginx to an agent, a client to nginx), and the server then fails to
# start with "address already in use".
sub free_port {
    my ($lo, $hi) = (10000, 32767);
    if (open my $f, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my ($eph) = split ' ', scalar <$f>;
        $hi = $eph - 1 if $eph && $eph - 1 > $lo + 1000;
    }
    for (1 .. 500) {
        my $port = $lo + int rand($hi - $lo + 1);
        next if $UsedPorts{$port};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        $UsedPorts{$port} = 1;
        return $port;
    }
    die "FarmTest: cannot find a free TCP port\n";
}

sub wait_until {
    my ($code, $timeout, $what) = @_;
    $timeout //= 5;
    $what //= 'condition';
    my $start = time;
    my $last_err;
    while (1) {
        my $ok = eval { $code->() };
        $last_err = $@ if $@;
        return time - $start if $ok;
        if (time - $start >= $timeout) {
            my $msg = "timed out after ${timeout}s waiting for $what";
            $msg .= " (last error: $last_err)" if defined $last_err;
            die "$msg\n";
        }
        sleep 0.02;
    }
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

sub _redis_addr {
    my ($h) = @_;
    return ($h->{host} // '127.0.0.1', $h->{port}) if ref $h;
    return ($1, $2) if defined $h && $h =~ m{^(?:redis://)?([^:/]+):(\d+)};
    return ('127.0.0.1', $h);
}

sub _read_line {
    my ($sock, $buf) = @_;
    my $sel = IO::Select->new($sock);
    while ($$buf !~ /\r\n/) {
        die "FarmTest: redis read timed out\n" unless $sel->can_read(5);
        my $n = sysread $sock, $$buf, 65536, length $$buf;
        die "FarmTest: redis connection closed\n" unless $n;
    }
    $$buf =~ s/^(.*?)\r\n//s;
    return $1;
}

sub _read_exact {
    my ($sock, $buf, $len) = @_;
    my $sel = IO::Select->new($sock);
    while (length $$buf < $len) {
        die "FarmTest: redis read timed out\n" unless $sel->can_read(5);
        my $n = sysread $sock, $$buf, 65536, length $$buf;
        die "FarmTest: redis connection closed\n" unless $n;
    }
    return substr($$buf, 0, $len, '');
}

sub _read_reply {
    my ($sock, $buf) = @_;
    my $line = _read_line($sock, $buf);
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    return "ERR:$rest" if $type eq '-';
    return 0 + $rest if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $data = _read_exact($sock, $buf, $rest + 2);
        return substr($data, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { _read_reply($sock, $buf) } 1 .. $rest ];
    }
    die "FarmTest: bad redis reply line: $line\n";
}

sub redis_cmd {
    my ($h, @args) = @_;
    my ($host, $port) = _redis_addr($h);
    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                     Proto => 'tcp', Timeout => 3)
        or die "FarmTest: cannot connect to redis at $host:$port: $!\n";
    my $req = '*' . @args . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for map { $_ // '' } @args;
    local $SIG{PIPE} = 'IGNORE';
    print {$sock} $req or die "FarmTest: redis write failed: $!\n";
    my $buf = '';
    my $reply = _read_reply($sock, \$buf);
    close $sock;
    return $reply;
}

sub _redis_up {
    my ($h) = @_;
    return (redis_cli($h, 'PING') // '') eq 'PONG' if ref $h && $h->{tls};
    my $r = eval { redis_cmd($h, 'PING') };
    return defined $r && $r eq 'PONG';
}

sub _launch_redis {
    my ($h) = @_;
    my @cmd = ($h->{binary}, '--bind', '127.0.0.1', '--port', $h->{port},
               '--save', '', '--appendonly', 'no', '--daemonize', 'no',
               '--dir', $h->{dir}, @{ $h->{extra} });
    $h->{pid} = _spawn("redis-server :$h->{port}", $h->{log}, undef, @cmd);
    my $deadline = time + ($h->{timeout} // 5);
    until (_redis_up($h)) {
        my $status;
        if (_reaped($h->{pid}, \$status)) {
            die "FarmTest: redis-server on port $h->{port} exited (status $status) "
                . "during startup; log $h->{log}:\n" . _log_tail($h->{log}, 20);
        }
        if (time > $deadline) {
            _stop_pid($h->{pid}, 'KILL', 2);
            die "FarmTest: redis-server on port $h->{port} did not answer PING within "
                . ($h->{timeout} // 5) . "s; log $h->{log}:\n" . _log_tail($h->{log}, 20);
        }
        sleep 0.02;
    }
    return $h;
}

sub start_redis {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $dir = File::Temp::tempdir("redis-$port-XXXX", DIR => _tmpdir());
    my $h = {
        host    => '127.0.0.1',
        port    => $port,
        dir     => $dir,
        log     => "$dir/redis.log",
        url     => "redis://127.0.0.1:$port",
        binary  => $opt{binary} // $ENV{REDIS_SERVER} // 'redis-server',
        extra   => [ @{ $opt{extra} || $opt{args} || [] } ],
        timeout => $opt{timeout},
    };
    return _launch_redis($h);
}

# A Redis that speaks TLS only (--port 0, --tls-port): a throw-away CA and
# a server certificate for 127.0.0.1 and localhost (as for a TLS Consul),
# clients not asked for certificates.  The handle's tls->{ca} is the CA
# file; talk to it with redis_cli (redis_cmd speaks plain TCP only).
sub start_redis_tls {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $dir = File::Temp::tempdir("redis-tls-$port-XXXX", DIR => _tmpdir());
    my $ca = _consul_certs($dir);
    my $h = {
        host    => '127.0.0.1',
        port    => $port,
        dir     => $dir,
        log     => "$dir/redis.log",
        url     => "rediss://127.0.0.1:$port",
        binary  => $opt{binary} // $ENV{REDIS_SERVER} // 'redis-server',
        tls     => { ca => $ca, cert => "$dir/server.pem",
                     key => "$dir/server-key.pem" },
        timeout => $opt{timeout},
    };
    # the later --port wins over _launch_redis' own
    $h->{extra} = [ '--port', 0, '--tls-port', $port,
                    '--tls-cert-file', $h->{tls}{cert},
                    '--tls-key-file', $h->{tls}{key},
                    '--tls-ca-cert-file', $ca, '--tls-auth-clients', 'no',
                    @{ $opt{extra} || [] } ];
    return _launch_redis($h);
}

# One command through redis-cli (over TLS for a start_redis_tls handle);
# returns its output (--raw) without the last newline, undef if it failed.
sub redis_cli {
    my ($h, @args) = @_;
    my ($host, $port) = _redis_addr($h);
    my @tls = ref $h && $h->{tls} ? ('--tls', '--cacert', $h->{tls}{ca}) : ();
    # its complaints while the server starts are not the test's output
    open my $stderr, '>&', \*STDERR or die "FarmTest: dup stderr: $!\n";
    open STDERR, '>', '/dev/null' or die "FarmTest: /dev/null: $!\n";
    my $ok = open my $cli, '-|', 'redis-cli', @tls, '-h', $host, '-p', $port,
                  '--raw', @args;
    open STDERR, '>&', $stderr or die "FarmTest: restore stderr: $!\n";
    die "FarmTest: redis-cli: $!\n" unless $ok;
    local $/;
    my $out = <$cli>;
    close $cli;
    return undef if $? || !defined $out;
    $out =~ s/\n\z//;
    return $out;
}

sub stop_redis {
    my ($h) = @_;
    my $code = _stop_pid($h->{pid}, 'TERM', 5);
    $h->{pid} = undef;
    return $code;
}

sub restart_redis {
    my ($h) = @_;
    stop_redis($h);
    return _launch_redis($h);
}

# ---------------------------------------------------------------------------
# Consul
# ---------------------------------------------------------------------------

# The management token of an ACL-enabled Consul started here.
our $ConsulToken = 'f4a1c7e2-58b3-4d0e-9c6a-3b2d1e0f9a87';

sub consul_binary {
    return $ENV{CONSUL_BINARY} if $ENV{CONSUL_BINARY};
    my $path = `"$RepoRoot/scripts/consul.sh" --path`;
    chomp $path;
    return $path;
}

# consul_api($h, 'PUT', '/v1/agent/service/register', $body, token => T)
# Returns ($status, $body, \%headers); status 599 when Consul cannot be
# reached.  token defaults to the handle's token (undef: none).
sub consul_api {
    my ($h, $method, $path, $body, %opt) = @_;
    my $token = exists $opt{token} ? $opt{token} : $h->{token};
    my %headers;
    $headers{'X-Consul-Token'} = $token if defined $token;
    my $res = HTTP::Tiny->new(timeout => $opt{timeout} // 5)->request(
        $method, "$h->{http}$path",
        { headers => \%headers, defined $body ? (content => $body) : () });
    return ($res->{status}, $res->{content}, $res->{headers});
}

sub _consul_up {
    my ($h) = @_;
    my ($st, $body) = consul_api($h, 'GET', '/v1/status/leader', undef,
                                 timeout => 1);
    return $st == 200 && $body =~ /"[^"]+"/;
}

# A CA and a server certificate for 127.0.0.1 and localhost, made with
# openssl for a TLS Consul; returns the CA file.
sub _consul_certs {
    my ($dir) = @_;
    my $run = sub {
        my $out = `@_ 2>&1`;
        die "FarmTest: openssl failed: @_\n$out" if $?;
    };
    open my $ext, '>', "$dir/san.ext" or die "FarmTest: $dir/san.ext: $!\n";
    print {$ext} "subjectAltName = IP:127.0.0.1, DNS:localhost\n";
    close $ext;
    $run->("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=farm-test-ca"
           . " -keyout $dir/ca-key.pem -out $dir/ca.pem");
    $run->("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost"
           . " -keyout $dir/server-key.pem -out $dir/server.csr");
    $run->("openssl x509 -req -in $dir/server.csr -CA $dir/ca.pem"
           . " -CAkey $dir/ca-key.pem -CAcreateserial -days 2"
           . " -extfile $dir/san.ext -out $dir/server.pem");
    return "$dir/ca.pem";
}

sub _launch_consul {
    my ($h) = @_;
    my $p = $h->{ports};
    system('rm', '-rf', "$h->{dir}/data");
    my $hcl = "ports { http = $p->{http}, dns = $p->{dns}, "
            . "serf_lan = $p->{serf_lan}, serf_wan = $p->{serf_wan}, "
            . "server = $p->{server}, grpc = $p->{grpc}, grpc_tls = -1"
            . ($p->{https} ? ", https = $p->{https}" : '') . " }";
    $hcl .= " tls { defaults { ca_file = \"$h->{dir}/ca.pem\" "
          . "cert_file = \"$h->{dir}/server.pem\" "
          . "key_file = \"$h->{dir}/server-key.pem\" "
          . "verify_incoming = false verify_outgoing = false } }"
        if $p->{https};
    my @cmd = ($h->{binary}, 'agent', '-dev', '-bind', '127.0.0.1',
               '-client', '127.0.0.1', '-node', 'farm-test',
               '-data-dir', "$h->{dir}/data", '-hcl', $hcl,
               '-log-level', 'info');
    push @cmd, '-config-file', $h->{acl_file} if $h->{acl_file};
    $h->{pid} = _spawn("consul :$p->{http}", $h->{log}, undef, @cmd);
    my $timeout = $h->{timeout} // 20;
    my $deadline = time + $timeout;
    until (_consul_up($h)) {
        my $status;
        if (_reaped($h->{pid}, \$status)) {
            die "FarmTest: consul on port $p->{http} exited (status $status) "
                . "during startup; log $h->{log}:\n" . _log_tail($h->{log}, 20);
        }
        if (time > $deadline) {
            _stop_pid($h->{pid}, 'KILL', 2);
            die "FarmTest: consul on port $p->{http} elected no leader within "
                . "${timeout}s; log $h->{log}:\n" . _log_tail($h->{log}, 20);
        }
        sleep 0.05;
    }
    return $h;
}

sub start_consul {
    my (%opt) = @_;
    my $bin = $opt{binary} // consul_binary();
    die "FarmTest: no Consul binary at '$bin': run make deps "
        . "(scripts/consul.sh builds it), or set CONSUL_BINARY\n"
        unless $bin && -x $bin;
    my %ports = map { $_ => free_port() }
                qw(http dns serf_lan serf_wan server grpc);
    $ports{http} = $opt{port} if $opt{port};
    my $dir = File::Temp::tempdir("consul-$ports{http}-XXXX", DIR => _tmpdir());
    my $h = {
        host    => '127.0.0.1',
        port    => $ports{http},
        ports   => \%ports,
        dir     => $dir,
        log     => "$dir/consul.log",
        url     => "consul://127.0.0.1:$ports{http}",
        http    => "http://127.0.0.1:$ports{http}",
        binary  => $bin,
        timeout => $opt{timeout},
    };
    if ($opt{tls}) {
        $ports{https} = free_port();
        $h->{ca_file} = _consul_certs($dir);
        $h->{https_port} = $ports{https};
        $h->{https} = "https://localhost:$ports{https}";
    }
    if ($opt{acl}) {
        $h->{acl_file} = "$dir/acl.hcl";
        $h->{token} = $ConsulToken;
        open my $f, '>', $h->{acl_file} or die "FarmTest: $h->{acl_file}: $!\n";
        print {$f} "acl {\n"
                 . "  enabled = true\n"
                 . "  default_policy = \"deny\"\n"
                 . "  tokens {\n"
                 . "    initial_management = \"$ConsulToken\"\n"
                 . "    agent = \"$ConsulToken\"\n"
                 . "  }\n"
                 . "}\n";
        close $f;
        # what a farm-agent needs to register in it
        $h->{agent_opts} = { env => { CONSUL_HTTP_TOKEN => $ConsulToken } };
    }
    return _launch_consul($h);
}

sub stop_consul {
    my ($h) = @_;
    my $code = _stop_pid($h->{pid}, 'TERM', 10);
    $h->{pid} = undef;
    return $code;
}

# A dev agent keeps nothing: a restart is a Consul that lost every service.
sub restart_consul {
    my ($h) = @_;
    stop_consul($h);
    return _launch_consul($h);
}

# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

# http_get(8080, '/x'), http_get('127.0.0.1:8080', '/x'),
# http_get('http://127.0.0.1:8080/x'), http_get($agent_handle, '/x')
sub http_get {
    my ($target, $path, %headers) = @_;
    my ($host, $port, $url_path) = ('127.0.0.1');
    if (ref $target) {
        ($host, $port) = ($target->{host} // '127.0.0.1', $target->{port});
    } elsif ($target =~ m{^(?:http://)?(?:([^:/]+):)?(\d+)(/.*)?$}) {
        ($host, $port, $url_path) = ($1 // '127.0.0.1', $2, $3);
    } else {
        die "FarmTest: http_get: bad target '$target'\n";
    }
    $path //= $url_path // '/';
    undef $HttpError;

    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                     Proto => 'tcp', Timeout => $HttpTimeout);
    if (!$sock) {
        $HttpError = "connect to $host:$port failed: $!";
        return (undef, {}, undef);
    }
    my $req = "GET $path HTTP/1.1\r\n";
    $headers{Host} //= "$host:$port" unless grep { lc eq 'host' } keys %headers;
    $req .= "$_: $headers{$_}\r\n" for sort keys %headers;
    $req .= "Connection: close\r\n\r\n";
    local $SIG{PIPE} = 'IGNORE';
    print {$sock} $req;

    my $sel = IO::Select->new($sock);
    my $raw = '';
    while (1) {
        if (!$sel->can_read($HttpTimeout)) {
            $HttpError = "timed out after ${HttpTimeout}s reading from $host:$port";
            last;
        }
        my $n = sysread $sock, $raw, 65536, length $raw;
        last unless $n;
    }
    close $sock;

    my ($head, $body) = $raw =~ /\A(.*?)\r?\n\r?\n(.*)\z/s;
    if (!defined $head || $head !~ m{^HTTP/\d\.\d (\d{3})}) {
        $HttpError //= "no valid HTTP response from $host:$port";
        return (undef, {}, undef);
    }
    my $status = $1;
    my %h;
    my @lines = split /\r?\n/, $head;
    shift @lines;
    for my $line (@lines) {
        next unless $line =~ /^([^:]+):\s*(.*?)\s*$/;
        my $k = lc $1;
        $h{$k} = exists $h{$k} ? "$h{$k}, $2" : $2;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $decoded = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $decoded .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $decoded;
    } elsif (defined $h{'content-length'} && length $body > $h{'content-length'}) {
        $body = substr $body, 0, $h{'content-length'};
    }
    return ($status, \%h, $body);
}

# http_request($port, 'PATCH', '/path', $body, %headers): any method, an
# optional body (a string; undef: none).  Returns ($status, \%headers,
# $body) like http_get; (undef, {}, undef) on connection failure.
sub http_request {
    my ($port, $method, $path, $body, %headers) = @_;
    my $res = HTTP::Tiny->new(timeout => $HttpTimeout)->request(
        $method, "http://127.0.0.1:$port$path",
        { headers => \%headers, (defined $body ? (content => $body) : ()) });
    return (undef, {}, undef) if $res->{status} == 599;
    return ($res->{status}, $res->{headers}, $res->{content});
}

# A kept-alive connection to 127.0.0.1:$port (for requests that must go to
# one worker in turn); undef if the connect fails.
sub http_conn {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => $HttpTimeout);
}

# GET $path on an http_conn() connection, kept alive.  With read => 0 only
# sends it and returns; else returns ($status, \%headers, $body) of a
# response with a Content-Length, or (undef, {}, undef) on timeout.
sub http_on {
    my ($sock, $path, %opt) = @_;
    my $read = exists $opt{read} ? delete $opt{read} : 1;
    my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    $req .= "$_: $opt{$_}\r\n" for sort keys %opt;
    local $SIG{PIPE} = 'IGNORE';
    syswrite $sock, "$req\r\n";
    return unless $read;

    my $sel = IO::Select->new($sock);
    my $raw = '';
    while (1) {
        if ($raw =~ /\A(.*?)\r\n\r\n/s) {
            my $head = $1;
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            last if defined $len && length($raw) >= length($head) + 4 + $len;
        }
        return (undef, {}, undef) unless $sel->can_read($HttpTimeout);
        my $n = sysread $sock, $raw, 65536, length $raw;
        return (undef, {}, undef) unless $n;
    }
    my ($head, $body) = $raw =~ /\A(.*?)\r\n\r\n(.*)\z/s;
    my ($status) = $head =~ m{^HTTP/\d\.\d (\d{3})};
    my %h = map { /^([^:]+):\s*(.*?)\s*$/ ? (lc $1 => $2) : () }
            split /\r\n/, $head;
    return ($status, \%h, $body);
}


# ---------------------------------------------------------------------------
# farm-agent
# ---------------------------------------------------------------------------

sub _seconds {    # "2s" / "500ms" / "1m" / 3 -> seconds
    my ($v) = @_;
    return undef unless defined $v;
    return $1 / 1000 if $v =~ /^([\d.]+)ms$/;
    return $1 * 60 if $v =~ /^([\d.]+)m$/;
    return $1 if $v =~ /^([\d.]+)s?$/;
    return undef;
}

sub start_agent {
    my (%opt) = @_;
    my $bin = $opt{binary} // $ENV{FARM_AGENT_BINARY} // "$RepoRoot/build/farm-agent";
    die "FarmTest: agent binary $bin not found or not executable (build it first, "
        . "or set FARM_AGENT_BINARY)\n" unless -x $bin;

    my $listen = $opt{listen} // '127.0.0.1:' . free_port();
    my ($host, $port) = $listen =~ /^(?:(.*):)?(\d+)$/
        or die "FarmTest: bad listen address '$listen'\n";
    $host = '127.0.0.1' if !defined $host || $host eq '' || $host eq '0.0.0.0' || $host eq '*';
    my $service = $opt{service} // 'agents';

    my @args = ('--listen', $listen, '--service', $service);
    push @args, '--registry', $opt{registry} if defined $opt{registry};
    push @args, '--id', $opt{id} if defined $opt{id};
    push @args, '--region', $opt{region} if defined $opt{region};
    push @args, '--cap', ref $opt{cap} ? join(',', @{ $opt{cap} }) : $opt{cap}
        if defined $opt{cap};
    push @args, '--weight', $opt{weight} if defined $opt{weight};
    push @args, '--max-conns', $opt{max_conns} if defined $opt{max_conns};
    push @args, '--ttl', $opt{ttl} if defined $opt{ttl};
    push @args, '--grace', $opt{grace} if defined $opt{grace};
    push @args, '--backup' if $opt{backup};
    push @args, @{ $opt{extra} || [] };

    my $label = $opt{id} // "port$port";
    my $log = File::Spec->catfile(_tmpdir(), "agent-$label.log");
    my $pid = _spawn("farm-agent $label", $log, { %{ $opt{env} || {} }, -clean_farm_env => 1 },
                     $bin, @args);
    my $h = {
        id => $opt{id}, host => $host, port => $port, listen => $listen,
        pid => $pid, log => $log, service => $service, registry => $opt{registry},
        grace => $opt{grace}, args => [$bin, @args],
    };

    my $timeout = $opt{timeout} // 10;
    my ($headers, $err, $status);
    my $deadline = time + $timeout;
    local $HttpTimeout = 1;
    while (1) {
        if (_reaped($pid, \$status)) {
            $err = "farm-agent $label exited during startup ("
                 . ($status & 127 ? "signal " . ($status & 127) : "exit code " . ($status >> 8))
                 . ")";
            last;
        }
        my ($code, $hdrs) = http_get($h, '/health');
        if (defined $code) {
            $headers = $hdrs;
            last;
        }
        if (time > $deadline) {
            $err = "timed out after ${timeout}s waiting for farm-agent $label to answer "
                 . "GET /health on $host:$port ($HttpError)";
            _stop_pid($pid, 'KILL', 2);
            last;
        }
        sleep 0.02;
    }
    die "FarmTest: start_agent: $err\nlog $log:\n" . _log_tail($log, 30) if $err;
    $h->{id} //= $headers->{'x-farm-agent'};

    my $wait_reg = $opt{wait_registered}
                // (defined $opt{registry}
                    && $opt{registry} =~ m{^(?:redis|consul)://});
    if ($wait_reg) {
        die "FarmTest: start_agent: agent id unknown (no --id and no X-Farm-Agent header)\n"
            unless defined $h->{id};
        my $key = "farm:$service:agent:$h->{id}";
        my ($check, $what);
        if ($opt{registry} =~ m{^consul://([^/]+)}) {
            my $consul = { http => "http://$1",
                           token => ($opt{env} || {})->{CONSUL_HTTP_TOKEN} };
            $check = sub {
                (consul_api($consul, 'GET', "/v1/agent/service/$h->{id}"))[0] == 200
            };
            $what = "service $h->{id} in Consul";
        } else {
            $check = sub { redis_cmd($opt{registry}, 'EXISTS', $key) == 1 };
            $what = "redis key $key";
        }
        eval {
            wait_until($check, $opt{register_timeout} // $timeout, $what);
            1;
        } or do {
            my $err = $@;
            stop_agent($h);
            die "FarmTest: start_agent: $err" . "log $log:\n" . _log_tail($log, 30);
        };
    }
    return $h;
}

sub stop_agent {
    my ($h, %opt) = @_;
    my $timeout = $opt{timeout} // ((_seconds($h->{grace}) // 30) + 5);
    # registered in a built-in registry on its behalf: it leaves as a
    # farm-agent leaves on SIGTERM, deregistered first
    deregister($h->{builtin}, $h->{id}, $h->{service}) if $h->{builtin};
    my $code = _stop_pid($h->{pid}, 'TERM', $timeout);
    $h->{exit} = $code;
    return $code;
}

sub kill_agent {
    my ($h) = @_;
    my $code = _stop_pid($h->{pid}, 'KILL', 5);
    $h->{exit} = $code;
    return $code;
}

sub stop_signal {
    my ($h, $sig) = @_;
    die "FarmTest: stop_signal: process $h->{pid} is not running\n"
        unless $h->{pid} && $Children{ $h->{pid} };
    return kill $sig, $h->{pid};
}

# ---------------------------------------------------------------------------
# the gateway under test
# ---------------------------------------------------------------------------

# The port Test::Nginx (ours or the real one) makes nginx listen on.
sub gateway_port {
    return $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
}

# GET a farm_status location of the gateway and decode it.
sub farm_status {
    my ($path) = @_;
    my ($code, undef, $body) = http_get(gateway_port(), $path // '/farm');
    die "FarmTest: farm_status: GET " . ($path // '/farm') . " answered "
        . ($code // "nothing ($HttpError)") . "\n"
        unless defined $code && $code == 200;
    return JSON::PP::decode_json($body);
}

# { id => agent } of the first (or the named) farm upstream.
sub farm_agents {
    my ($upstream, $path) = @_;
    my $st = farm_status($path);
    for my $f (@{ $st->{farms} }) {
        next if defined $upstream && $f->{upstream} ne $upstream;
        return { map { $_->{id} => $_ } @{ $f->{agents} } };
    }
    return {};
}

# n GETs of $path (default /work?ms=0) through the gateway:
# { agent id (X-Farm-Agent) or "status-NNN" => how many }
sub spread {
    my ($n, $path, %headers) = @_;
    my %count;
    for (1 .. $n) {
        my ($code, $h) = http_get(gateway_port(), $path // '/work?ms=0', %headers);
        $count{ defined $code && $code == 200 ? $h->{'x-farm-agent'}
                                              : 'status-' . ($code // 'none') }++;
    }
    return \%count;
}

# The same as "a=3,b=1", sorted by agent.
sub spread_text {
    my $count = spread(@_);
    return join ',', map { "$_=$count->{$_}" } sort keys %$count;
}

# The agents that 16 GETs of /work?ms=0 with %headers reached, by the
# X-Chosen header (add_header X-Chosen $farm_agent, for records that share
# one farm-agent), or "status-NNN", as "a,b,status-503" sorted.
sub chosen {
    my (%headers) = @_;
    my %seen;
    for (1 .. 16) {
        my ($code, $h) = http_get(gateway_port(), '/work?ms=0', %headers);
        $seen{ defined $code && $code == 200 ? $h->{'x-chosen'}
                                             : 'status-' . ($code // 'none') } = 1;
    }
    return join ',', sort keys %seen;
}

# Waits (10 s at most) until chosen(%headers) is $want, then checks it.
sub settle_chosen {
    my ($want, %headers) = @_;
    my $what = join(' ', map { "$_=$headers{$_}" } sort keys %headers) . ": $want";
    wait_until(sub { chosen(%headers) eq $want }, 10, $what);
    Test::More::is(chosen(%headers), $want, $what);
}

# An agent's state in farm_status ("up", "down", ...), or "absent".
sub agent_state {
    my ($id) = @_;
    my $a = farm_agents()->{$id} or return 'absent';
    return $a->{state};
}

# Makes exactly the agents of %want run, registered in $redis (a
# start_redis or start_consul handle), and waits
# until the gateway routes to exactly them.  $running is the caller's hash
# of handles (id => handle), kept up to date.  %want maps an id to
# start_agent options; an agent whose options changed is restarted.
# Options: ttl defaults to 5s; status => '/farm' where farm_status answers.
sub ensure_agents {
    my ($redis, $running, %want) = @_;
    my $status = delete $want{-status} // '/farm';
    my $json = JSON::PP->new->canonical;

    for my $id (sort keys %$running) {
        my $opt = $want{$id};
        next if $opt && $json->encode($opt) eq $running->{$id}{want};
        stop_agent(delete $running->{$id});
    }
    for my $id (sort keys %want) {
        # a gateway started anew (a new block) lost the built-in
        # registry's agents: registered again, as the agent would on the
        # 404 of its next heartbeat
        _builtin_register($redis, $running->{$id}, $want{$id})
            if $running->{$id} && $running->{$id}{builtin};
        next if $running->{$id};
        if (($redis->{kind} // '') eq 'builtin') {
            $running->{$id} = _builtin_agent($redis, $id, %{ $want{$id} });
        } else {
            $running->{$id} = start_agent(id => $id, registry => $redis->{url},
                                          ttl => '5s',
                                          %{ $redis->{agent_opts} || {} },
                                          %{ $want{$id} });
        }
        $running->{$id}{want} = $json->encode($want{$id});
    }
    wait_until(sub {
        my $known = farm_agents(undef, $status);
        return 0 if grep { !$known->{$_} } keys %want;
        return 0 if grep { !$want{$_} } keys %$known;
        return 1;
    }, 10, "the gateway to route to exactly: " . join(',', sort keys %want));
}

# Registers a record in Redis the way an agent would (SET, SADD, PUBLISH),
# or in a built-in registry (PUT; -ttl => '10s', else the upstream's), for agents
# that serve but do not register themselves.  %rec: id, port, and any
# other record field; service defaults to "agents".
sub put_record {
    my ($redis, %rec) = @_;
    my $ttl = delete $rec{-ttl};
    my $service = $rec{service} //= 'agents';
    $rec{address} //= '127.0.0.1';
    $rec{port} += 0;
    my $json = JSON::PP->new->canonical->encode(\%rec);
    if (($redis->{kind} // '') eq 'builtin') {
        my ($code, $body) = registry_call($redis, 'PUT',
            "$service/agents/$rec{id}" . (defined $ttl ? "?ttl=$ttl" : ''), $json);
        die "FarmTest: put_record: PUT $rec{id} answered $code: $body\n"
            unless $code == 200 || $code == 201;
        return;
    }
    redis_cmd($redis, 'SET', "farm:$service:agent:$rec{id}", $json, 'PX', 600000);
    redis_cmd($redis, 'SADD', "farm:$service:agents", $rec{id});
    redis_cmd($redis, 'PUBLISH', "farm:$service:events", "register $rec{id}");
}

# Removes an agent's record from Redis the way a leaving agent would (for
# records left behind by agents the test killed).
sub deregister {
    my ($redis, $id, $service) = @_;
    $service //= 'agents';
    if (($redis->{kind} // '') eq 'builtin') {
        registry_call($redis, 'DELETE', "$service/agents/$id");
        return;
    }
    redis_cmd($redis, 'DEL', "farm:$service:agent:$id");
    redis_cmd($redis, 'SREM', "farm:$service:agents", $id);
    redis_cmd($redis, 'PUBLISH', "farm:$service:events", "deregister $id");
}

# A request left in flight in the background (a curl process, tracked and
# stopped like every other child).  Returns the pid; see finished().
sub background_get {
    my ($port, $path, %headers) = @_;
    my $log = File::Spec->catfile(_tmpdir(), "bg-$$-" . int(rand 1e9) . ".log");
    return _spawn("background GET $path", $log, {}, 'curl', '-s', '-o',
                  '/dev/null', '-w', '%{http_code}\n', '--max-time', '60',
                  (map { ('-H', "$_: $headers{$_}") } sort keys %headers),
                  "http://127.0.0.1:$port$path");
}

# Runs a command in the background (tracked and stopped like every other
# child).  Returns { pid, log }; finish() waits for it.
sub background {
    my ($what, @cmd) = @_;
    my $log = File::Spec->catfile(_tmpdir(), "bg-$$-" . int(rand 1e9) . ".log");
    return { pid => _spawn($what, $log, {}, @cmd), log => $log };
}

# Waits (up to $timeout s) for a background() command to exit; returns its
# exit code and its output.
sub finish {
    my ($h, $timeout) = @_;
    my $status;
    wait_until(sub { _reaped($h->{pid}, \$status) }, $timeout // 30,
               "background command $h->{pid}");
    open my $fh, '<', $h->{log} or return ($status >> 8, '');
    local $/;
    return ($status >> 8, scalar <$fh>);
}

# Has a background_get (or any child) finished?  Reaps it.
sub finished {
    my ($pid) = @_;
    return 1 unless $Children{$pid};
    return _reaped($pid);
}


# ---------------------------------------------------------------------------
# a bare TCP listener that plays a slow or hung agent
# ---------------------------------------------------------------------------

# start_listener(delay => S): accepts every connection and answers
# "HTTP/1.0 200 OK" with {"status":"up"} S seconds after accepting it
# (delay => undef: never answers, holds the connection until the peer
# closes it).  port => P (default free_port()).  Waits until the port
# accepts.  Handle: {pid, port, log, peak}; listener_peak($h) reads the
# most connections it held at once.  The listener is t/lib/slow_listener.pl.

sub start_listener {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $label = "listener-$port";
    my $log = File::Spec->catfile(_tmpdir(), "$label.log");
    my $peak = File::Spec->catfile(_tmpdir(), "$label.peak");
    unlink $peak;
    my $pid = _spawn($label, $log, {}, $^X, "$RepoRoot/t/lib/slow_listener.pl",
                     $port, $opt{delay} // 'never', $peak);
    my $h = { pid => $pid, port => $port, log => $log, peak => $peak };
    wait_until(sub {
        my $status;
        die "FarmTest: start_listener: exited:\n" . _log_tail($log, 10)
            if _reaped($pid, \$status);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1) or return 0;
        close $s;
        return 1;
    }, 10, "listener on $port");
    return $h;
}

sub stop_listener {
    my ($h) = @_;
    return _stop_pid($h->{pid}, 'KILL', 5);
}

# start_echo(port => P): an HTTP server that answers what it received
# (t/lib/echo_server.pl: request line, headers, empty line, body), for
# tests of what the gateway sends upstream.  Handle: {pid, port, log}.
sub start_echo {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $log = File::Spec->catfile(_tmpdir(), "echo-$port.log");
    my $pid = _spawn("echo-$port", $log, {}, $^X,
                     "$RepoRoot/t/lib/echo_server.pl", $port);
    wait_until(sub {
        die "FarmTest: start_echo: exited:\n" . _log_tail($log, 10)
            if _reaped($pid, \my $status);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1) or return 0;
        close $s;
        return 1;
    }, 10, "echo server on $port");
    return { pid => $pid, port => $port, log => $log };
}

# start_huge_redis(kind => 'bulk'|'array'): a fake Redis whose first reply
# on each connection passes the module's reply bounds (a 6 MB bulk string,
# or an array of 5000000 elements; t/lib/huge_redis.pl).  Handle: {pid,
# port, log}; stop it with stop_echo.
sub start_huge_redis {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $log = File::Spec->catfile(_tmpdir(), "huge-redis-$port.log");
    my $pid = _spawn("huge-redis-$port", $log, {}, $^X,
                     "$RepoRoot/t/lib/huge_redis.pl", $port, $opt{kind} // 'bulk');
    wait_until(sub {
        die "FarmTest: start_huge_redis: exited:\n" . _log_tail($log, 10)
            if _reaped($pid, \my $status);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1) or return 0;
        close $s;
        return 1;
    }, 10, "fake redis on $port");
    return { pid => $pid, port => $port, log => $log };
}

# FarmTest::start_grpc_health(state => FILE, tls => [CERT, KEY]) (not
# exported): a gRPC health server (t/lib/grpc_health_server.py, python3-h2)
# answering grpc.health.v1.Health/Check with the state written in FILE
# (SERVING, NOT_SERVING, UNIMPLEMENTED, CLOSE, ...); its log lists the
# calls.  Handle: {pid, port, log}; stopped by pid when the test ends.
sub start_grpc_health {
    my (%opt) = @_;
    my $port = $opt{port} // free_port();
    my $log = File::Spec->catfile(_tmpdir(), "grpc-$port.log");
    my $pid = _spawn("grpc-health-$port", $log, {}, '/usr/bin/python3',
                     "$RepoRoot/t/lib/grpc_health_server.py", $port,
                     $opt{state}, @{ $opt{tls} // [] });
    wait_until(sub {
        die "FarmTest: start_grpc_health: exited:\n" . _log_tail($log, 10)
            if _reaped($pid, \my $status);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1) or return 0;
        close $s;
        return 1;
    }, 20, "gRPC health server on $port");
    return { pid => $pid, port => $port, log => $log };
}

sub stop_echo {
    my ($h) = @_;
    return _stop_pid($h->{pid}, 'TERM', 5);
}

# start_streamer(): t/lib/stream_server.pl on a free port, for tests of
# streaming through the gateway: GET /stream sends "first\n", then "rest\n"
# once streamer_go($h) is called (Content-Length 11); any other request has
# its body appended piece by piece to the file $h->{body} as it arrives.
# Handle: {pid, port, log, dir, body}; stop_streamer($h) stops it and its
# children.
sub start_streamer {
    my $port = free_port();
    my $dir = File::Temp::tempdir("streamer-$port-XXXXXX", DIR => _tmpdir(),
                                  CLEANUP => 1);
    my $log = File::Spec->catfile(_tmpdir(), "streamer-$port.log");
    my $pid = _spawn("streamer-$port", $log, {}, $^X,
                     "$RepoRoot/t/lib/stream_server.pl", $port, $dir);
    wait_until(sub {
        die "FarmTest: start_streamer: exited:\n" . _log_tail($log, 10)
            if _reaped($pid, \my $status);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1) or return 0;
        close $s;
        return 1;
    }, 10, "stream server on $port");
    return { pid => $pid, port => $port, log => $log, dir => $dir,
             body => "$dir/body" };
}

sub stop_streamer {
    my ($h) = @_;
    return _stop_pid($h->{pid}, 'TERM', 5);
}

sub streamer_go {
    my ($h) = @_;
    open my $fh, '>', "$h->{dir}/go" or die "FarmTest: $h->{dir}/go: $!\n";
    close $fh;
}

sub listener_peak {
    my ($h) = @_;
    open my $fh, '<', $h->{peak} or return 0;
    my $n = <$fh>;
    return ($n // 0) + 0;
}

# The worker processes of the nginx master $master (default nginx_pid()),
# without the ones shutting down.
sub nginx_workers {
    my ($master) = @_;
    $master //= nginx_pid() or return ();
    opendir my $d, '/proc' or return ();
    my @pids;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        my ($ppid) = $stat =~ /^\d+ \(.*?\) \S (\d+)/;
        next unless defined $ppid && $ppid == $master;
        open my $cf, '<', "/proc/$p/cmdline" or next;
        my $cmd = do { local $/; <$cf> } // '';
        push @pids, $p if $cmd =~ /worker process/ && $cmd !~ /shutting down/;
    }
    return sort { $a <=> $b } @pids;
}

# nginx -s reload of the Test::Nginx instance: HUPs the master and waits
# until every worker is a new one.
sub nginx_reload {
    my $master = nginx_pid() or die "FarmTest: nginx_reload: no nginx pid\n";
    my %old = map { $_ => 1 } nginx_workers($master);
    kill 'HUP', $master;
    wait_until(sub {
        my @now = nginx_workers($master);
        return @now && !grep { $old{$_} } @now;
    }, 10, 'the new workers after a reload');
}

# Which of @pids hold a TCP connection to 127.0.0.1:$port (from
# /proc/net/tcp and /proc/PID/fd).
sub pids_connected_to {
    my ($port, @pids) = @_;
    my %inode;
    open my $fh, '<', '/proc/net/tcp' or return ();
    while (<$fh>) {
        my @f = split ' ';
        next unless @f > 9 && $f[2] =~ /^0100007F:([0-9A-F]{4})$/ && hex($1) == $port;
        $inode{ $f[9] } = 1 if $f[9];
    }
    my @found;
    for my $pid (@pids) {
        opendir my $d, "/proc/$pid/fd" or next;
        for my $fd (readdir $d) {
            my $l = readlink "/proc/$pid/fd/$fd" // next;
            if ($l =~ /^socket:\[(\d+)\]$/ && $inode{$1}) {
                push @found, $pid;
                last;
            }
        }
    }
    return @found;
}


# ---------------------------------------------------------------------------
# a second nginx, beside the one Test::Nginx runs (two gateways)
# ---------------------------------------------------------------------------

# start_nginx(http => '...', port => P, workers => N, name => 'g2')
# Writes <tmp>/nginx-<name>/conf/nginx.conf: the modules of
# $TEST_NGINX_LOAD_MODULES (default: build/ngx_http_farm_module.so; option
# modules => 'a.so b.so' instead), nginx's environment plus option env,
# "http { <http> }" with $PORT replaced by the port, runs nginx in the
# foreground (master + workers) and waits until the port accepts.
sub start_nginx {
    my (%opt) = @_;
    my $bin = $opt{binary} // $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
    my $port = $opt{port} // free_port();
    my $name = $opt{name} // "nginx-$port";
    my $prefix = File::Spec->catdir(_tmpdir(), $name);
    my $modules = $opt{modules} // $ENV{TEST_NGINX_LOAD_MODULES}
                  // "$RepoRoot/build/ngx_http_farm_module.so";
    for my $d ('', '/conf', '/logs', '/html') {
        mkdir "$prefix$d" unless -d "$prefix$d";
    }
    (my $http = $opt{http} // '') =~ s/\$PORT\b/$port/g;
    my $conf = join '', map { "load_module $_;\n" } grep { length } split /\s+/, $modules;
    # as root, workers run as root, as under Test::Nginx: they may have to
    # write where "nobody" cannot (make test-asan's report directory)
    $conf .= "user root;\n" if $> == 0;
    $conf .= "worker_processes " . ($opt{workers} // 1) . ";\n"
           . "error_log logs/error.log " . ($opt{log_level} // 'info') . ";\n"
           . "pid logs/nginx.pid;\n"
           . "events { worker_connections 256; }\n"
           . "http {\n    access_log off;\n"
           . "    client_body_temp_path tmp_body;\n    proxy_temp_path tmp_proxy;\n"
           . "    fastcgi_temp_path tmp_fastcgi;\n    uwsgi_temp_path tmp_uwsgi;\n"
           . "    scgi_temp_path tmp_scgi;\n"
           . "$http\n}\n";
    open my $fh, '>', "$prefix/conf/nginx.conf" or die "FarmTest: $prefix: $!\n";
    print $fh $conf;
    close $fh;

    my $log = "$prefix/logs/stderr.log";
    my $pid = _spawn("nginx $name", $log, { %{ $opt{env} || {} } }, $bin,
                     '-p', "$prefix/", '-c', 'conf/nginx.conf',
                     '-g', 'daemon off; master_process on;');
    my $h = { pid => $pid, port => $port, prefix => $prefix, name => $name,
              error_log => "$prefix/logs/error.log" };
    push @Gateways, $h;
    my $deadline = time + ($opt{timeout} // 10);
    while (1) {
        my $status;
        if (_reaped($pid, \$status)) {
            die "FarmTest: start_nginx: nginx $name exited during startup; "
                . "stderr:\n" . _log_tail($log, 20)
                . "error.log:\n" . _log_tail($h->{error_log}, 20);
        }
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 1);
        if ($s) {
            close $s;
            last;
        }
        if (time > $deadline) {
            _stop_pid($pid, 'KILL', 2);
            die "FarmTest: start_nginx: nginx $name did not listen on $port\n";
        }
        sleep 0.02;
    }
    return $h;
}

# Graceful stop (SIGQUIT) of a start_nginx() instance; returns the exit code.
sub stop_nginx {
    my ($h) = @_;
    my $code = _stop_pid($h->{pid}, 'QUIT', 10);
    $h->{pid} = undef;
    _keep_sanitizer_context($h->{error_log}, $h->{name});
    return $code;
}

# make test-asan (see t/harness's _keep_sanitizer_context): keep the end of
# a stopped nginx's error.log beside each new report in $FARM_SANITIZER_DIR.
sub _keep_sanitizer_context {
    my ($error_log, $name) = @_;
    my $dir = $ENV{FARM_SANITIZER_DIR};
    return unless $dir && opendir(my $dh, $dir);
    my @new = grep { -f "$dir/$_" && !/\.error\.log$/ && !-e "$dir/$_.error.log" }
              readdir $dh;
    closedir $dh;
    return unless @new;
    my @lines;
    if (open my $log, '<', $error_log) {
        @lines = <$log>;
    }
    for my $report (@new) {
        # as in t/harness: the process's own lines, or the end of the log
        my ($pid) = $report =~ /\.(\d+)$/;
        my @own = defined $pid ? grep { /\b$pid#\d+/ } @lines : ();
        my @out;
        if (@own) {
            @own = @own[-60 .. -1] if @own > 60;
            @out = ("-- the last " . @own . " lines of process $pid:\n", @own,
                    "-- lines about process $pid:\n",
                    grep { /\bprocess $pid\b/ } @lines);
        } else {
            my @tail = @lines > 40 ? @lines[-40 .. -1] : @lines;
            @out = ("-- the last " . @tail . " lines:\n", @tail);
        }
        open my $fh, '>', "$dir/$report.error.log" or next;
        print $fh "$0: nginx $name (start_nginx); $error_log:\n", @out;
        close $fh;
    }
}

# ---------------------------------------------------------------------------
# nginx under test (same rules as the Test::Nginx harness)
# ---------------------------------------------------------------------------

# FarmTest::error_log_count($re) (not exported): how many lines of the
# gateway's error.log (nginx_error_log()) match $re.
sub error_log_count {
    my ($re) = @_;
    open my $fh, '<', nginx_error_log() or return 0;
    my $n = 0;
    while (<$fh>) { $n++ if $_ =~ $re }
    return $n;
}

# FarmTest::wait_error_log($re, $what, $n) (not exported): waits, 60 s at
# the most, until $n lines (1) of the gateway's error.log match $re.
sub wait_error_log {
    my ($re, $what, $n) = @_;
    wait_until(sub { error_log_count($re) >= ($n // 1) }, 60, $what);
}

sub servroot {
    my $dir = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
    $dir =~ s{/+$}{};
    return $dir;
}

sub nginx_error_log { servroot() . '/logs/error.log' }

sub nginx_pid {
    open my $fh, '<', servroot() . '/logs/nginx.pid' or return undef;
    my $pid = <$fh>;
    return defined $pid && $pid =~ /(\d+)/ ? $1 : undef;
}

# The pids of the worker processes of the nginx whose master is $master
# (default: Test::Nginx's, from its pid file).
sub worker_pids {
    my ($master) = @_;
    $master //= nginx_pid() or return ();
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        next unless $line =~ /^(\d+) \(.*\) \S+ (\d+) /s;
        push @pids, $1 if $2 == $master;
    }
    return sort { $a <=> $b } @pids;
}

# Which of @pids holds a TCP connection to 127.0.0.1:$port (e.g. the sync
# owner's connection to Redis); undef if none.
sub process_peer {
    my ($port, @pids) = @_;
    my %inode;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $table or next;
        <$fh>;
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            my (undef, $rport) = split /:/, $f[2];
            $inode{ $f[9] } = 1 if hex($rport) == $port && $f[3] eq '01';
        }
    }
    for my $pid (@pids) {
        for my $fd (glob "/proc/$pid/fd/*") {
            my $link = readlink($fd) // next;
            return $pid if $link =~ /^socket:\[(\d+)\]$/ && $inode{$1};
        }
    }
    return undef;
}

# A field of /proc/<pid>/status in kB (VmRSS, VmHWM, ...); undef if none.
sub proc_status_kb {
    my ($pid, $field) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (my $line = <$fh>) {
        return $1 if $line =~ /^\Q$field\E:\s+(\d+) kB/;
    }
    return undef;
}

# ---------------------------------------------------------------------------
# the registry under test: Redis, or the gateway's built-in registry
# ---------------------------------------------------------------------------

# "redis" (the default) or "builtin", from FARM_TEST_REGISTRY: a suite
# written with the helpers below runs against either (t/51-builtin-*.t run
# the Redis suites with FARM_TEST_REGISTRY=builtin).
sub registry_kind { $ENV{FARM_TEST_REGISTRY} // 'redis' }

our $BuiltinToken = 'f3c9a1d7e5b24c8e9a6d0b1c2e3f4a5b';

# The suite's registry: start_redis(), or builtin_registry().
sub start_registry {
    return registry_kind() eq 'builtin' ? builtin_registry() : start_redis();
}

# A handle on the built-in registry of a gateway: its port (the Test::Nginx
# gateway's by default), the API's prefix (/farm/registry), the token and
# the token file farm_registry reads (written here).
sub builtin_registry {
    my (%opt) = @_;
    my $token = $opt{token} // $BuiltinToken;
    my $file = File::Spec->catfile(_tmpdir(), "registry-$$-" . length($token) . '.token');
    open my $fh, '>', $file or die "FarmTest: $file: $!\n";
    print {$fh} "$token\n";
    close $fh;
    my $port = $opt{port} // gateway_port();
    my $path = $opt{path} // '/farm/registry';
    return { kind => 'builtin', port => $port, path => $path, token => $token,
             token_file => $file, url => "http://127.0.0.1:$port$path" };
}

# The farm_registry directive of upstream "agents" for $reg, with $extra
# parameters (Redis ones are dropped for the built-in registry).
sub registry_directive {
    my ($reg, $extra) = @_;
    $extra //= '';
    if (($reg->{kind} // '') eq 'builtin') {
        $extra =~ s/\b(?:resync|timeout|prefix|hold)=\S+//g;
        return "farm_registry builtin service=agents token_file=$reg->{token_file} $extra;";
    }
    return "farm_registry redis://127.0.0.1:$reg->{port} service=agents $extra;";
}

# What follows "farm_registry" for $reg, before service=: the Redis URL, or
# "builtin token_file=..." (which takes the Redis parameters resync=,
# timeout= and hold= and ignores them).
sub registry_url {
    my ($reg) = @_;
    return "builtin token_file=$reg->{token_file}"
        if ($reg->{kind} // '') eq 'builtin';
    return "redis://127.0.0.1:$reg->{port}";
}

# The location serving the built-in registry's API, or nothing for Redis.
sub registry_location {
    my ($reg, $params) = @_;
    return '' unless ($reg->{kind} // '') eq 'builtin';
    return "location $reg->{path}/ { farm_registry_api " . ($params // '') . "; }";
}

# A call of the built-in registry's API: registry_call($reg, 'PUT',
# 'agents/agents/a1?ttl=10s', $json, %headers) -> ($status, $body,
# \%headers).  The token goes along unless Authorization is given; a body
# goes as application/json unless Content-Type is given.
sub registry_call {
    my ($reg, $method, $path, $body, %h) = @_;
    $h{Authorization} //= "Bearer $reg->{token}";
    delete $h{Authorization} if $h{Authorization} eq '';
    $h{'Content-Type'} //= 'application/json' if defined $body;
    my $res = HTTP::Tiny->new(timeout => $HttpTimeout)->request(
        $method, "http://127.0.0.1:$reg->{port}$reg->{path}/$path",
        { headers => \%h, (defined $body ? (content => $body) : ()) });
    return ($res->{status}, $res->{content}, $res->{headers});
}

# The ids registry $reg holds for $service (default "agents"), sorted: the
# Redis index's members, or the ids the built-in registry's API lists.
sub registry_ids {
    my ($reg, $service) = @_;
    $service //= 'agents';
    if (($reg->{kind} // '') eq 'builtin') {
        my ($code, $body) = registry_call($reg, 'GET', "$service/agents");
        die "FarmTest: registry_ids: GET answered $code: $body\n"
            unless $code == 200;
        return sort map { $_->{id} } @{ JSON::PP::decode_json($body)->{agents} };
    }
    return sort @{ redis_cmd($reg, 'SMEMBERS', "farm:$service:agents") };
}

# A farm-agent that serves, registered in a built-in registry on its
# behalf (as it registers itself in Redis); stop_agent() deregisters it.
sub _builtin_agent {
    my ($reg, $id, %opt) = @_;
    my $ttl = delete $opt{ttl};
    my $h = start_agent(id => $id, %opt);
    $h->{builtin} = $reg;
    _builtin_register($reg, $h, { %opt, ttl => $ttl });
    return $h;
}

sub _builtin_register {
    my ($reg, $h, $opt) = @_;
    my %opt = %$opt;
    my $ttl = $opt{ttl};
    my %rec = (id => $h->{id}, port => $h->{port}, service => $h->{service});
    $rec{region} = $opt{region} if defined $opt{region};
    $rec{caps} = ref $opt{cap} ? $opt{cap} : [split /,/, $opt{cap}] if defined $opt{cap};
    $rec{weight} = $opt{weight} + 0 if defined $opt{weight};
    $rec{max_conns} = $opt{max_conns} + 0 if defined $opt{max_conns};
    $rec{backup} = JSON::PP::true if $opt{backup};
    put_record($reg, %rec, -ttl => $ttl);
}

# Prometheus' own verdict on a scrape: runs `promtool check metrics` on
# $text; returns (its exit status, what it printed).
sub promtool_metrics {
    my ($text) = @_;
    my ($fh, $file) = File::Temp::tempfile(UNLINK => 1);
    print {$fh} $text;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    return ($? >> 8, $out);
}


# FarmTest::start_dns($file) (not exported): a tiny DNS server on 127.0.0.1 (UDP) for nginx's
# resolver, answering from $file, read at each query: lines
# "name addr addr ..." (IPv4).  A name in the file gets its addresses as A
# records (TTL 1); "*" stands for any other name not under .invalid; any
# other name gets NXDOMAIN.  Edit the file to change the answers.
# Returns its port; stopped by pid when the test ends.
sub start_dns {
    my ($file) = @_;
    require IO::Socket::INET;
    require IO::Select;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'udp')
        or die "FarmTest: start_dns: $!\n";
    my $port = $sock->sockport;
    my $pid = fork // die "FarmTest: fork failed: $!\n";
    if ($pid) {
        $Children{$pid} = "dns on $port";
        close $sock;
        return $port;
    }
    syscall($PrctlNr, 1, 9, 0, 0, 0) if $PrctlNr && $^O eq 'linux';
    $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
    my $sel = IO::Select->new($sock);
    for (;;) {
        next unless $sel->can_read(1);
        my $peer = $sock->recv(my $q, 512) // next;
        next if length $q < 17;
        my ($id) = unpack 'n', $q;
        my ($pos, @labels) = (12);
        while ((my $n = ord substr($q, $pos, 1)) > 0) {
            push @labels, substr($q, $pos + 1, $n);
            $pos += $n + 1;
        }
        my $question = substr($q, 12, $pos + 5 - 12);
        my $qtype = unpack 'n', substr($q, $pos + 1, 2);
        my $name = lc join '.', @labels;
        my (%in, $addrs);
        if (open my $fh, '<', $file) {
            while (<$fh>) {
                my ($n, @a) = split;
                $in{ lc $n } = \@a if defined $n;
            }
        }
        $addrs = $in{$name} // ($name =~ /(^|\.)invalid$/ ? undef : $in{'*'});
        my $answer = '';
        my $count = 0;
        if ($addrs && $qtype == 1) {
            for my $a (@$addrs) {
                $answer .= pack('n n n N n C4', 0xc00c, 1, 1, 1, 4, split /\./, $a);
                $count++;
            }
        }
        $sock->send(pack('n n n n n n', $id, $addrs ? 0x8180 : 0x8183, 1, $count,
                         0, 0) . $question . $answer, 0, $peer);
    }
}

1;


__END__

=head1 NAME

FarmTest - process and protocol helpers for the ngx_farm tests

=head1 SYNOPSIS

    use FarmTest;

    my $redis = start_redis(extra => ['--notify-keyspace-events', 'Kx']);
    $ENV{TEST_NGINX_REDIS_PORT} = $redis->{port};
    my $a1 = start_agent(id => 'a1', registry => $redis->{url}, cap => 'gpu');
    is(redis_cmd($redis, 'EXISTS', 'farm:agents:agent:a1'), 1);
    my ($status, $hdr, $body) = http_get($a1, '/health');
    stop_agent($a1);            # SIGTERM, waits, returns the exit code

=head1 FUNCTIONS (all exported)

=over

=item free_port()

An unused 127.0.0.1 TCP port (bound to port 0 and released); never the
same port twice in one process.

=item start_redis(%opt) / stop_redis($h) / restart_redis($h)

Runs C<redis-server --bind 127.0.0.1 --port P --save '' --appendonly no
--daemonize no --dir TMP> plus C<extra =E<gt> [...]> (alias C<args>), waits
until PING answers (C<timeout>, default 5 s) or dies with the log tail.
Options: C<port>, C<extra>, C<binary> (default $REDIS_SERVER or
redis-server), C<timeout>.  Handle: {host, port, pid, dir, log, url}.
stop_redis sends SIGTERM and returns the exit code; restart_redis restarts on
the same port (data is lost) and returns the handle with the new pid.

=item start_consul(%opt) / stop_consul($h) / restart_consul($h)

Runs C<consul agent -dev> from consul_binary() on 127.0.0.1 with ports of
its own (http, dns, serf_lan, serf_wan, server, grpc; grpc_tls off) and a
data dir in the temp dir, and waits until /v1/status/leader names a leader
(C<timeout>, default 20 s).  C<acl =E<gt> 1> enables ACLs with default
policy deny and the management token $FarmTest::ConsulToken (also the
agent token); the handle then has {token} and {agent_opts} (the
CONSUL_HTTP_TOKEN a farm-agent needs).  C<tls =E<gt> 1> also serves
HTTPS with a certificate for 127.0.0.1 and localhost from a CA made with
openssl: {https} is "https://localhost:PORT", {https_port}, {ca_file} the
CA.  Options: C<port> (http),
C<binary>, C<timeout>.  Handle: {host, port, ports, pid, dir, log, url
(consul://...), http (http://...)}.  restart_consul restarts on the same
ports with nothing kept, like a dev agent that lost its state.

=item consul_api($h, $method, $path, $body, token =E<gt> T)

One HTTP request to Consul (HTTP::Tiny); returns ($status, $body,
\%headers), status 599 when unreachable.  Sends X-Consul-Token: the
handle's {token} unless C<token> says otherwise (undef: none).

=item consul_binary()

$CONSUL_BINARY, or where scripts/consul.sh keeps the one it built.

=item redis_cmd($handle_or_port_or_url, @args)


One command over a fresh connection, RESP2 reply decoded: simple string and
bulk string as a string (nil bulk: undef), integer as a number, array as an
array ref (nil array: undef).  An error reply is B<returned> (not thrown) as
a string prefixed with "ERR:", e.g. "ERR:WRONGTYPE Operation against...".
Dies if Redis cannot be reached or does not answer within 5 s.

=item start_agent(%opt)

Starts $FARM_AGENT_BINARY or <repo>/build/farm-agent with
C<--listen> (option C<listen>, default 127.0.0.1:free_port()),
C<--service> (C<service>, default "agents") and, when given,
C<--registry> (C<registry>), C<--id> (C<id>), C<--region>, C<--cap>
(C<cap>: "a,b" or ['a','b']), C<--weight>, C<--max-conns> (C<max_conns>),
C<--ttl>, C<--grace>, C<--backup> (C<backup> true) and then C<extra =E<gt>
[...]>.  The agent gets no FARM_* variables from the test's environment
(except FARM_LOG_LEVEL); C<env =E<gt> {...}> sets variables for it.  Output
goes to {log}.  Waits (C<timeout>, default 10 s) until GET /health answers with
any status; then, if C<wait_registered> (default: true when C<registry> is
redis://...), until the key farm:<service>:agent:<id> exists.  Without
C<id> the id is taken from the X-Farm-Agent response header.  Dies with the
log tail on failure.  Handle: {id, host, port, listen, pid, log, service,
registry, grace, args}.

=item stop_agent($h, timeout =E<gt> S) / kill_agent($h) / stop_signal($h, $SIG)

stop_agent: SIGTERM, wait (default grace + 5 s, or 35 s), SIGKILL after
that; kill_agent: SIGKILL.  Both reap the process and return its exit code
(128 + signal number if it died from a signal), also stored in {exit}.
stop_signal($h, 'STOP' | 'CONT' | 'USR1' | ...) just sends the signal.

=item http_get($target, $path, %headers)

$target: port, "host:port", "http://host:port[/path]" or a handle with
{host, port}.  Returns ($status, \%headers, $body): header names
lower-cased, repeated headers joined with ", ", chunked bodies decoded.
On connection failure or timeout ($FarmTest::HttpTimeout, default 5 s)
returns (undef, {}, undef) and sets $FarmTest::HttpError.

=item temp_file($name, $content)

Writes $content to $name in the test's temp dir (removed at the end unless
FARM_TEST_KEEP=1) and returns the path: token files, small configs.

=item http_request($port, $method, $path, $body, %headers)

Any method to 127.0.0.1:$port, with an optional body (undef: none) and
headers.  Returns ($status, \%headers, $body), header names lower-cased;
(undef, {}, undef) when the connection fails.

=item http_conn($port) / http_on($sock, $path, %headers)

http_conn opens a connection to 127.0.0.1:$port that stays open, so that
several requests go to the worker that accepted it.  http_on sends a
kept-alive GET on it and returns ($status, \%headers, $body) (header names
lower-cased; the response needs a Content-Length); with C<read =E<gt> 0>
it only sends the request.

=item wait_until($code, $timeout_s, $what)

Calls $code every 20 ms until it returns true (a die counts as false);
returns the elapsed seconds, or dies "timed out after Ns waiting for $what".

=item start_nginx(%opt) / stop_nginx($h)

A second nginx next to the one Test::Nginx runs (for two gateways): its own
prefix under the test's temp dir, the modules of C<modules> or else
$TEST_NGINX_LOAD_MODULES (default build/ngx_http_farm_module.so), the
nginx of C<binary> or else $TEST_NGINX_BINARY (default /usr/sbin/nginx),
extra environment variables C<env =E<gt> {...}>, C<workers> (default 1), error log
level C<log_level> (default info), and C<http =E<gt> '...'>, the inside of
the http block, where C<$PORT> stands for its port (C<port>, default
free_port()).  Runs in the foreground with a master process and waits until
the port accepts; dies with the logs if it exits.  Handle: {pid, port,
prefix, name, error_log}.  stop_nginx sends SIGQUIT (graceful) and waits;
an instance still running when the test ends is stopped like every child.
When the test fails, the [emerg]..[warn] lines (or the last lines) of each
instance's error.log are printed as diagnostics at exit.
Under make test-asan, stop_nginx keeps the end of the instance's error.log
beside each new report in $FARM_SANITIZER_DIR (<report>.error.log).

=item worker_pids([$master]) / process_peer($port, @pids) / proc_status_kb($pid, $field)

The pids of an nginx master's workers (default: Test::Nginx's nginx); which
of @pids holds an established TCP connection to port $port of the loopback
(the sync owner: the worker connected to Redis); a field of
/proc/<pid>/status in kB, such as VmRSS or VmHWM (the peak).

=item start_listener(delay =E<gt> S, port =E<gt> P) / stop_listener($h) / listener_peak($h)

A bare TCP listener on 127.0.0.1 playing a slow or hung agent: it answers
every connection with C<HTTP/1.0 200> and C<{"status":"up"}> S seconds after
accepting it, or never (C<delay> undef), holding the connection until the
peer closes it.  listener_peak: the most connections it held at once.
stop_listener sends SIGKILL.  Not exported: call them as FarmTest::...

=item start_echo(port =E<gt> P) / stop_echo($h)

An HTTP server on 127.0.0.1 (t/lib/echo_server.pl) answering every request
200 with what it received: the request line, the header lines in order, an
empty line, the body.  A request header C<X-Echo-Set-NAME: VALUE> adds
C<NAME: VALUE> to its answer.  Not exported: call them as FarmTest::...

=item nginx_workers($master) / nginx_reload() / pids_connected_to($port, @pids)

The worker pids of a master (default the Test::Nginx one), without those
shutting down; a reload (HUP) that returns once every worker is new; which
of @pids hold a TCP connection to 127.0.0.1:$port.  nginx_workers is
exported; the others are not.

=item servroot() / nginx_pid() / nginx_error_log()

The Test::Nginx server root ($TEST_NGINX_SERVROOT or ./t/servroot), the
pid in its logs/nginx.pid (undef if none), and its logs/error.log path.

=item repo_root()

The repository root (the directory containing t/).

=back

Everything started here is stopped in an END block (SIGTERM, then SIGKILL
after 5 s), including when the test dies or gets SIGINT/SIGTERM.  Logs and
redis data live in one temp dir per test process, removed at exit unless
FARM_TEST_KEEP=1.  FARM_TEST_VERBOSE=1 prints the commands started.

=cut
