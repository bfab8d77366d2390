# farm-agent's registration in a real Consul dev agent: the service and its
# TTL check, heartbeats, Consul restarted (it forgets everything) or down,
# SIGTERM, SIGKILL, and ACL tokens.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $c = start_consul();

# True once $code is (polled for up to 5 s).
sub eventually {
    my ($code) = @_;
    return eval { wait_until($code, 5, 'condition'); 1 };
}

sub service_of {
    my ($consul, $id) = @_;
    my ($st, $body) = consul_api($consul, 'GET', "/v1/agent/service/$id");
    return $st == 200 ? json_of($body) : undef;
}

sub check_of {
    my ($consul, $id) = @_;
    my ($st, $body) = consul_api($consul, 'GET', '/v1/agent/checks');
    return undef unless $st == 200;
    return json_of($body)->{"service:$id"};
}

my $a = start_agent(id => 'cs1', registry => $c->{url}, region => 'eu',
                    cap => 'gpu,ssd', weight => 4, max_conns => 8,
                    backup => 1, ttl => '2s',
                    extra => ['--meta', 'rack=r7', '--advertise', '127.0.0.2']);

# the service

my $svc = service_of($c, 'cs1');
ok($svc, 'the service is registered') or diag explain $svc;
is($svc->{ID}, 'cs1', 'ID is the agent id');
is($svc->{Service}, 'agents', 'Name is the service');
is($svc->{Address}, '127.0.0.2', 'Address from --advertise');
is($svc->{Port}, $a->{port}, 'Port is the listen port');
is_deeply([sort @{ $svc->{Tags} }], ['gpu', 'ssd'], 'Tags are the capabilities');
is_deeply($svc->{Meta}, { region => 'eu', max_conns => '8', backup => 'true',
                          version => '0.1.0', rack => 'r7' },
          'Meta: region, max_conns, backup, version and the record meta');
is_deeply($svc->{Weights}, { Passing => 4, Warning => 1 },
          'Weights: Passing is the weight');

# --load-meta: Meta carries the load, and is registered again

{
    my $m = start_agent(id => 'cs-load', registry => $c->{url},
                        extra => ['--meta', 'rack=r9', '--load-meta',
                                  '200ms']);
    my $svc = service_of($c, 'cs-load');
    is($svc->{Meta}{rack}, 'r9', '--load-meta keeps the --meta keys');
    like($svc->{Meta}{cpus} // '', qr/^[1-9]\d*$/, 'Meta: cpus');
    like($svc->{Meta}{load1} // '', qr/^\d+\.\d\d$/, 'Meta: load1');
    is(stop_agent($m), 0, 'exit status 0 after SIGTERM');
    check_agent_log($m);
}


my $check = check_of($c, 'cs1');
is($check->{Type}, 'ttl', 'a TTL check service:<id>');
is($check->{Status}, 'passing', 'the check passes from the start');
is($check->{ServiceID}, 'cs1', 'the check belongs to the service');

# Consul lists the service a moment before the agent has read the answer
ok(eventually(sub { log_has($a, qr/info: registered cs1 as 127\.0\.0\.2:$a->{port} in consul:\/\/127\.0\.0\.1:$c->{port}/) }),
   'log: registered <id> as <addr>:<port> in <url>');
ok(eventually(sub { json_of((http_get($a, '/health'))[2])->{registered} }),
   '/health: registered true');

# heartbeats keep the check passing past its 2 s TTL

my $until = time + 3;
my $failing = 0;
while (time < $until) {
    my $chk = check_of($c, 'cs1');
    $failing++ unless $chk && $chk->{Status} eq 'passing';
    sleep 0.1;
}
is($failing, 0, 'heartbeats keep the TTL check passing for 3 s with --ttl 2s');

# Consul restarted: a dev agent forgets every service; the agent registers
# again by itself

restart_consul($c);
wait_until(sub { service_of($c, 'cs1') }, 10,
           'the service after a Consul restart');
pass('registered again after a Consul restart');
is(check_of($c, 'cs1')->{Status}, 'passing', 'its check passes again');
ok(log_has($a, qr/warn: (?:cs1 is gone from consul|cannot register in consul)/),
   'log: the loss is noticed');

# Consul down for a while: the agent serves, then registers again

stop_consul($c);
wait_until(sub { log_has($a, qr/warn: cannot register in consul:\/\/127\.0\.0\.1:$c->{port}: .*; still serving, retrying/) },
           10, 'the failure to be logged');
pass('log: cannot register in <url>: <reason>; retrying');
my ($st) = http_get($a, '/health');
is($st, 200, 'the agent serves while Consul is down');
restart_consul($c);
wait_until(sub { service_of($c, 'cs1') }, 10,
           'the service once Consul is back');
pass('registered again once Consul is back');
wait_until(sub { log_has($a, qr/info: reached consul:\/\/127\.0\.0\.1:$c->{port} again/) },
           5, 'the recovery to be logged');
pass('log: the recovery');

# SIGTERM: deregistered first, exit 0

is(stop_agent($a), 0, 'exit status 0 after SIGTERM');
ok(!service_of($c, 'cs1'), 'the service is gone after SIGTERM');
ok(log_has($a, qr/info: deregistered cs1 from consul:/), 'log: deregistered');
check_agent_log($a);

# SIGKILL: Consul sees the check fail after the TTL

my $k = start_agent(id => 'cs2', registry => $c->{url}, ttl => '1s');
kill_agent($k);
wait_until(sub { (check_of($c, 'cs2') || {})->{Status} eq 'critical' }, 10,
           'the check of a killed agent to go critical');
pass('a killed agent\'s check goes critical');
consul_api($c, 'PUT', '/v1/agent/service/deregister/cs2');

# Consul down at start: serve unregistered, register once it is up

stop_consul($c);
my $b = start_agent(id => 'cs3', registry => $c->{url}, wait_registered => 0,
                    ttl => '3s');
($st, undef, my $body) = http_get($b, '/health');
is($st, 200, 'Consul down: the agent serves');
ok(!json_of($body)->{registered}, 'Consul down: /health registered false');
wait_until(sub { log_has($b, qr/warn: cannot register in consul:\/\/127\.0\.0\.1:$c->{port}: .*serving unregistered, retrying/) },
           5, 'the first failure to be logged');
pass('log: cannot register ...; serving unregistered, retrying');
restart_consul($c);
wait_until(sub { service_of($c, 'cs3') }, 10, 'registration once Consul is up');
pass('registered once Consul came up');
is(stop_agent($b), 0, 'exit status 0 after SIGTERM');
check_agent_log($b);
stop_consul($c);

# ACLs: default policy deny; the token from --consul-token or
# CONSUL_HTTP_TOKEN

my $acl = start_consul(acl => 1);
my $token = $FarmTest::ConsulToken;

my $d = start_agent(id => 'cs4', registry => $acl->{url}, wait_registered => 0);
wait_until(sub { log_has($d, qr/warn: cannot register in consul:.*HTTP 403 .*--consul-token or CONSUL_HTTP_TOKEN/) },
           5, 'the 403 to be logged');
pass('without a token: HTTP 403 is logged with what to do');
ok(!service_of($acl, 'cs4'), 'without a token: not registered');
is(stop_agent($d), 0, 'exit status 0 after SIGTERM');
check_agent_log($d);

my $e = start_agent(id => 'cs5', registry => $acl->{url},
                    env => { CONSUL_HTTP_TOKEN => $token });
ok(service_of($acl, 'cs5'), 'CONSUL_HTTP_TOKEN: registered');

my $f = start_agent(id => 'cs6', registry => $acl->{url}, wait_registered => 0,
                    extra => ['--consul-token', $token]);
wait_until(sub { service_of($acl, 'cs6') }, 5, 'cs6 in Consul');
pass('--consul-token: registered');

is(stop_agent($e), 0, 'exit status 0 after SIGTERM');
is(stop_agent($f), 0, 'exit status 0 after SIGTERM');
ok(!service_of($acl, 'cs5') && !service_of($acl, 'cs6'),
   'deregistered with the token');
ok(!log_has($_, qr/\Q$token\E/), "the token is not in the log of $_->{id}")
    for $d, $e, $f;
check_agent_log($_) for $e, $f;

stop_consul($acl);

# TLS: https:// with --consul-ca; without it the certificate is refused

my $tls = start_consul(tls => 1);

my $g = start_agent(id => 'cs7', registry => $tls->{https}, wait_registered => 0,
                    extra => ['--consul-ca', $tls->{ca_file}]);
wait_until(sub { service_of($tls, 'cs7') }, 5, 'cs7 in Consul over https');
pass('https:// with --consul-ca: registered');
ok(eventually(sub { log_has($g, qr/info: registered cs7 as 127\.0\.0\.1:\d+ in https:\/\/localhost:$tls->{https_port}/) }),
   'log: registered in https://localhost:<port>');

my $u = start_agent(id => 'cs8', registry => $tls->{https}, wait_registered => 0);
wait_until(sub { log_has($u, qr/warn: cannot register in https:\/\/localhost:\d+: .*certificate/) },
           5, 'the certificate failure to be logged');
pass('https:// without --consul-ca: the unknown CA is refused and logged');
ok(!service_of($tls, 'cs8'), 'not registered without trusting the CA');

is(stop_agent($g), 0, 'exit status 0 after SIGTERM');
ok(!service_of($tls, 'cs7'), 'deregistered over https');
is(stop_agent($u), 0, 'exit status 0 after SIGTERM');
check_agent_log($_) for $g, $u;

done_testing();
