# farm-agent's registration with a gateway's built-in registry API
# (--registry http://host/path --token-file), against a stand-in of that
# API (lib/gateway.pl) that checks method, path, token, body, and can
# forget the agent, fail, hang, or go away and come back; several
# registries at once (gateways and Redis); https with --registry-ca
# through nginx terminating TLS in front of the stand-in.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Temp ();
use Time::HiRes qw(sleep time);
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $dir = File::Temp::tempdir('farmgw-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $secret = 'tok-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);

sub write_file {
    my ($file, $text) = @_;
    open my $f, '>', $file or die "$file: $!";
    print {$f} $text;
    close $f;
}

write_file("$dir/agent.token", "$secret\n");

# start_gateway(name => ..., port => ...): the stand-in, with the agent's
# token unless token => is given.
sub start_gateway {
    my (%opt) = @_;
    my $name = $opt{name};
    my $gw = { name => $name, port => $opt{port} // free_port(),
               prefix => $opt{prefix} // '/farm/registry',
               token => "$dir/$name.token", control => "$dir/$name.control",
               requests => "$dir/$name.requests", log => "$dir/$name.log" };
    write_file($gw->{token}, $opt{token} // "$secret\n")
        unless -e $gw->{token} && !defined $opt{token};
    $gw->{url} = "http://127.0.0.1:$gw->{port}$gw->{prefix}";
    $gw->{pid} = FarmTest::_spawn("gateway.pl $name", $gw->{log}, {},
        $^X, "$FindBin::Bin/lib/gateway.pl", $gw->{port}, $gw->{prefix},
        $gw->{token}, $gw->{control}, $gw->{requests});
    wait_until(sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw->{port},
                              Proto => 'tcp')
    }, 10, "gateway.pl $name on port $gw->{port}");
    return $gw;
}

sub stop_gateway { FarmTest::_stop_pid($_[0]{pid}, 'TERM', 5) }

sub control { write_file($_[0]{control}, $_[1]) }

# The requests the stand-in saw, oldest first.
sub requests {
    my ($gw) = @_;
    open my $f, '<', $gw->{requests} or return ();
    return map { json_of($_) } <$f>;
}

sub count {
    my ($gw, $method, $status) = @_;
    return scalar grep {
        $_->{method} eq $method && (!defined $status
                                    || ($_->{status} // 0) == $status)
    } requests($gw);
}

sub eventually {
    my ($code, $what, $timeout) = @_;
    return eval { wait_until($code, $timeout // 15, $what); 1 };
}

sub metric {
    my ($a, $name) = @_;
    my $body = (http_get($a, '/metrics'))[2] // '';
    return $body =~ /^\Q$name\E (\S+)$/m ? $1 : undef;
}

# --- register, heartbeat, deregister ----------------------------------

my $g = start_gateway(name => 'g1');
my $a = start_agent(id => 'gw1', registry => $g->{url}, region => 'eu',
                    cap => 'gpu', weight => 3, ttl => '3s',
                    extra => ['--token-file', "$dir/agent.token",
                              '--heartbeat', '300ms', '--meta', 'rack=r1',
                              '--log-level', 'debug']);

ok(eventually(sub { count($g, 'PUT', 201) >= 1 }, 'a PUT answered 201'),
   'the agent registers with a PUT');

my ($put) = grep { $_->{method} eq 'PUT' } requests($g);
is($put->{path}, '/farm/registry/agents/agents/gw1',
   'PUT <prefix>/<service>/agents/<id>');
is($put->{query}, 'ttl=3000ms', 'ttl= is --ttl');
is($put->{auth}, "Bearer $secret", 'Authorization: Bearer <token file>');
is($put->{ctype}, 'application/json', 'Content-Type: application/json');
my $rec = json_of($put->{body});
is($rec->{id}, 'gw1', 'record: id');
is($rec->{service}, 'agents', 'record: service');
is($rec->{address}, '127.0.0.1', 'record: address');
is($rec->{port}, $a->{port}, 'record: port');
is($rec->{region}, 'eu', 'record: region');
is_deeply($rec->{caps}, ['gpu'], 'record: caps');
is($rec->{weight}, 3, 'record: weight');
is_deeply($rec->{meta}, { rack => 'r1' }, 'record: meta');

ok(eventually(sub { log_has($a, qr/info: registered gw1 as 127\.0\.0\.1:\d+ in \Q$g->{url}\E/) },
              'the log line'),
   'log: registered gw1 in the gateway URL');
ok(eventually(sub { (metric($a, 'farm_agent_registered') // 0) == 1 },
              'registered 1'), '/metrics: registered 1');

ok(eventually(sub { count($g, 'POST', 200) >= 3 }, 'three heartbeats'),
   'heartbeats every --heartbeat');
my ($beat) = grep { $_->{method} eq 'POST' } requests($g);
is($beat->{path}, '/farm/registry/agents/agents/gw1/heartbeat',
   'POST <prefix>/<service>/agents/<id>/heartbeat');
is($beat->{query}, 'ttl=3000ms', 'the heartbeat renews for --ttl');
is($beat->{auth}, "Bearer $secret", 'the heartbeat carries the token');
is($beat->{body}, '', 'the heartbeat has no body');
is(count($g, 'PUT'), 1, 'while heartbeats pass, no new PUT');

# the gateway lost it (TTL ran out): a 404 heartbeat registers again

control($g, 'forget');
ok(eventually(sub { count($g, 'POST', 404) >= 1 && count($g, 'PUT', 201) >= 2 },
              '404, then PUT'),
   'a 404 heartbeat is followed by a new registration');
ok(log_has($a, qr/warn: gw1 is gone from \Q$g->{url}\E.*registering again/),
   'log: gw1 is gone, registering again');

# the gateway goes away and comes back (restarted, without its state)

my $puts = count($g, 'PUT');
stop_gateway($g);
ok(eventually(sub { log_has($a, qr/warn: cannot register in \Q$g->{url}\E: /) },
              'the outage logged'),
   'log: cannot register in <url> while the gateway is down');
is((http_get($a, '/work?ms=1'))[0], 200, 'the agent serves while the gateway is down');
$g = start_gateway(name => 'g1', port => $g->{port});
ok(eventually(sub { count($g, 'PUT', 201) > $puts }, 'registered again'),
   'registered again once the gateway is back');
ok(log_has($a, qr/info: reached \Q$g->{url}\E again after/),
   'log: reached the gateway again');

# errors from the gateway: retried; the reason is logged

control($g, 'fail');
ok(eventually(sub { log_has($a, qr/cannot register in \Q$g->{url}\E: HTTP 503 \{"error":"failing on purpose"\}/) },
              'the 503 logged'),
   'log: HTTP 503 and the answer');
$puts = count($g, 'PUT', 201) + count($g, 'PUT', 200);
control($g, '');
ok(eventually(sub { count($g, 'PUT', 201) + count($g, 'PUT', 200) > $puts },
              'registered after the failures'),
   'a failed heartbeat is followed by a registration once it answers');

# SIGTERM: DELETE before the agent exits

is(stop_agent($a), 0, 'exit status 0 after SIGTERM');
my @del = grep { $_->{method} eq 'DELETE' } requests($g);
is(scalar @del, 1, 'one DELETE on SIGTERM');
is($del[0]{path}, '/farm/registry/agents/agents/gw1',
   'DELETE <prefix>/<service>/agents/<id>');
is($del[0]{auth}, "Bearer $secret", 'the DELETE carries the token');
is($del[0]{status}, 200, 'the gateway confirmed it');
ok(log_has($a, qr/info: deregistered gw1 from \Q$g->{url}\E/),
   'log: deregistered');
ok(!log_has($a, qr/\Q$secret\E/), 'the token is in no log line (debug level)');
check_agent_log($a);

# --- the token: refused, then rotated ------------------------------------

write_file($g->{token}, "new-token\n");
my $b = start_agent(id => 'gw-tok', registry => $g->{url},
                    extra => ['--token-file', "$dir/agent.token"]);
ok(eventually(sub { log_has($b, qr/cannot register in \Q$g->{url}\E: HTTP 401 .*token-file/) },
              'the 401 logged'),
   'log: HTTP 401 and a hint about --token-file');
is(metric($b, 'farm_agent_registered'), 0, '/metrics: registered 0 when refused');
write_file("$dir/agent.token", "new-token\n");
ok(eventually(sub { count($g, 'PUT', 201) >= 1
                    && (grep { $_->{method} eq 'PUT' && ($_->{auth} // '') eq 'Bearer new-token' }
                        requests($g)) },
              'registered with the new token'),
   'after a 401 the agent reads --token-file again');
ok(!log_has($b, qr/new-token|\Q$secret\E/), 'no token in the log');
is(stop_agent($b), 0, 'exit status 0');
check_agent_log($b);
write_file("$dir/agent.token", "$secret\n");
write_file($g->{token}, "$secret\n");

# --- several registries at once; one hangs -------------------------------

my $r = start_redis();
my $g2 = start_gateway(name => 'g2', prefix => '/other/api');
my $hang = start_gateway(name => 'hang');
control($hang, 'hang');

my $m = start_agent(id => 'gw-multi', ttl => '3s',
                    extra => ['--registry', $g->{url}, '--registry', $g2->{url},
                              '--registry', $hang->{url},
                              '--registry', $r->{url},
                              '--token-file', "$dir/agent.token"]);
ok(eventually(sub {
       (grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/gw-multi$} } requests($g))
       && (grep { $_->{method} eq 'PUT' && $_->{path} eq '/other/api/agents/agents/gw-multi' }
           requests($g2))
       && redis_cmd($r, 'EXISTS', 'farm:agents:agent:gw-multi') == 1
   }, 'registered in g1, g2 and Redis'),
   'registered in both live gateways and in Redis while a third gateway hangs');
ok(count($hang, 'PUT') >= 1, 'the hanging gateway got the PUT (and never answered)');
ok(log_has($m, qr/registry \Q$g->{url}\E, \Q$g2->{url}\E, \Q$hang->{url}\E, redis:/),
   'log: the start line names every registry');
ok(eventually(sub { (metric($m, 'farm_agent_registrations_total') // 0) >= 3 },
              '3 registrations'),
   '/metrics: registrations over every registry');

is(stop_agent($m), 0, 'SIGTERM: exit status 0 although a gateway hangs');
ok((grep { $_->{method} eq 'DELETE' && $_->{path} =~ m{/gw-multi$} } requests($g))
   && (grep { $_->{method} eq 'DELETE' } requests($g2)),
   'DELETE sent to both live gateways');
is(redis_cmd($r, 'EXISTS', 'farm:agents:agent:gw-multi'), 0,
   'and the Redis record removed');
ok(log_has($m, qr/could not deregister gw-multi from \Q$hang->{url}\E within/),
   'log: the hanging gateway could not be reached in time');
check_agent_log($m);
stop_gateway($hang);
stop_gateway($g2);
stop_redis($r);

# --- https: verified with --registry-ca, refused without it -------------

SKIP: {
    my $nginx = $ENV{FARM_NGINX} // '/usr/sbin/nginx';
    skip "no $nginx to terminate TLS", 6 unless -x $nginx;

    my $ca = FarmTest::_consul_certs($dir);
    my $tls_port = free_port();
    mkdir "$dir/ngx";
    mkdir "$dir/ngx/logs";
    write_file("$dir/ngx/nginx.conf", <<"EOF");
daemon off;
master_process off;
worker_processes 1;
error_log $dir/ngx/logs/error.log;
pid $dir/ngx/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/ngx;
    proxy_temp_path $dir/ngx;
    server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $dir/server.pem;
        ssl_certificate_key $dir/server-key.pem;
        location / {
            proxy_pass http://127.0.0.1:$g->{port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    my $npid = FarmTest::_spawn('nginx (TLS)', "$dir/ngx/logs/stderr.log", {},
                                $nginx, '-p', "$dir/ngx", '-c', "$dir/ngx/nginx.conf");
    wait_until(sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $tls_port,
                              Proto => 'tcp')
    }, 10, "nginx on $tls_port");

    my $url = "https://127.0.0.1:$tls_port/farm/registry";
    my $t = start_agent(id => 'gw-tls', registry => $url,
                        extra => ['--token-file', "$dir/agent.token",
                                  '--registry-ca', $ca]);
    ok(eventually(sub { grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/gw-tls$}
                               && $_->{status} == 201 } requests($g) },
                  'registered over TLS'),
       'https:// with --registry-ca: registered');
    ok(log_has($t, qr/registered gw-tls as .* in \Q$url\E/), 'log: registered in the https URL');
    is(stop_agent($t), 0, 'exit status 0');
    ok((grep { $_->{method} eq 'DELETE' && $_->{path} =~ m{/gw-tls$} } requests($g)),
       'deregistered over TLS');

    my $u = start_agent(id => 'gw-untrusted', registry => $url,
                        extra => ['--token-file', "$dir/agent.token"]);
    ok(eventually(sub { log_has($u, qr/cannot register in \Q$url\E: .*(?:certificate|SSL)/i) },
                  'the certificate refused'),
       'https:// without the CA: the certificate is refused, logged');
    is((grep { ($_->{path} // '') =~ m{/gw-untrusted} } requests($g)), 0,
       'nothing reached the gateway');
    stop_agent($u);
    FarmTest::_stop_pid($npid, 'QUIT', 5);
}

stop_gateway($g);

done_testing();
