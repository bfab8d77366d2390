# farm-agent's command line: --help, --version, bad values, environment
# variables and their precedence.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp ();
use IO::Socket::INET ();
use Test::More;
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my @flags = qw(listen advertise service registry id region cap weight
               max-conns backup meta prefix ttl heartbeat grace log-level
               pid-file app app-timeout app-connect-timeout app-health
               app-health-status app-health-interval app-health-timeout
               app-health-rise app-health-fall app-down-grace register-only
               max-clients client-timeout auto-weight load-meta token-file
               registry-ca busy-poll);

# --help

my ($code, $out, $err) = run_agent(args => ['--help']);
is($code, 0, '--help exits 0');
for my $flag (@flags) {
    (my $env = "FARM_\U$flag") =~ s/-/_/g;
    $env = 'FARM_CAPS' if $flag eq 'cap';
    like($out, qr/^  --\Q$flag\E\b.*\benv \Q$env\E, default \S/m,
         "--help documents --$flag, $env and its default");
}
like($out, qr/^  --version\b/m, '--help documents --version');
like($out, qr/^  --consul-token TOKEN\s+env CONSUL_HTTP_TOKEN, default none/m,
     '--help documents --consul-token and CONSUL_HTTP_TOKEN');
like($out, qr/^  --consul-ca FILE\s+env FARM_CONSUL_CA, default /m,
     '--help documents --consul-ca and FARM_CONSUL_CA');

($code, $out) = run_agent(args => ['--version']);
is($code, 0, '--version exits 0');
like($out, qr/^farm-agent \d+\.\d+\.\d+$/m, '--version prints the version');

# bad values: exit 2, one line naming the flag and the reason

my @bad = (
    [ ['--weight', '0'],           qr/--weight: must be an integer from 1 to 1000/ ],
    [ ['--weight', 'many'],        qr/--weight: must be an integer/ ],
    [ ['--max-conns', '-1'],       qr/--max-conns: must be an integer/ ],
    [ ['--ttl', '10x'],            qr/--ttl: must be a duration/ ],
    [ ['--grace', 's'],            qr/--grace: must be a duration/ ],
    [ ['--heartbeat', '20s'],      qr/--heartbeat: .*not less than --ttl/ ],
    [ ['--listen', '127.0.0.1'],   qr/--listen: .*no port/ ],
    [ ['--listen', '::1:9001'],    qr/--listen: put an IPv6 address in brackets/ ],
    [ ['--listen', '1.2.3.4:70000'], qr/--listen: port must be/ ],
    [ ['--advertise', 'host.example:80'], qr/--advertise: .*not an IPv4 or IPv6 address/ ],
    [ ['--region', 'eu west'],     qr/--region: .*must be 1-64 of/ ],
    [ ['--service', ''],           qr/--service: must not be empty/ ],
    [ ['--id', '-lead'],           qr/--id: .*starting with a letter or digit/ ],
    [ ['--cap', 'gpu,two words'],  qr/--cap: "two words" is not a valid capability/ ],
    [ ['--meta', 'novalue'],       qr/--meta: "novalue" is not KEY=VALUE/ ],
    [ ['--prefix', 'a:b'],         qr/--prefix: must be/ ],
    [ ['--log-level', 'loud'],     qr/--log-level: must be debug, info, warn or error/ ],
    [ ['--registry', 'mysql://x'], qr/--registry: .*scheme must be/ ],
    [ ['--consul-ca', '/etc/ssl/ca.pem', '--registry', 'consul://127.0.0.1:1'],
      qr/--consul-ca: needs an https:\/\/ Consul --registry/ ],
    [ ['--consul-token', 'two words'], qr/--consul-token: must be printable characters without spaces/ ],
    [ ['--meta', 'a.b=1', '--registry', 'consul://127.0.0.1:1'],
      qr/--meta: key "a\.b" cannot be a Consul Meta key/ ],
    [ ['--meta', 'region=x', '--registry', 'consul://127.0.0.1:1'],
      qr/--meta: key "region" is reserved for the record's own field in Consul Meta/ ],
    [ ['--registry', 'http://127.0.0.1:1/farm/registry'],
      qr/--token-file: required with an http\(s\):\/\/ gateway --registry/ ],
    [ ['--token-file', '/dev/null', '--registry', 'redis://127.0.0.1:1'],
      qr/--token-file: needs an http\(s\):\/\/ gateway --registry/ ],
    [ ['--token-file', '/dev/null', '--registry', 'http://127.0.0.1:1/r'],
      qr/--token-file: \/dev\/null is empty/ ],
    [ ['--token-file', '/no/such/file', '--registry', 'http://127.0.0.1:1/r'],
      qr/--token-file: cannot read \/no\/such\/file: No such file/ ],
    [ ['--registry', 'http://u:p\@127.0.0.1:1/r'],
      qr/--registry: .*credentials in a gateway URL are not supported, use --token-file/ ],
    [ ['--registry', 'http://127.0.0.1:1/r?x=1'],
      qr/--registry: .*a gateway URL takes no query or fragment/ ],
    [ ['--registry', 'http://127.0.0.1:1/a/../b'],
      qr/--registry: .*no "\." or "\.\." segment/ ],
    [ ['--registry', 'redis://127.0.0.1:1', '--registry', 'redis://127.0.0.1:1/0'],
      qr/--registry: redis:\/\/127\.0\.0\.1:1\/0 given twice/ ],
    [ ['--registry-ca', '/etc/ssl/ca.pem', '--registry', 'redis://127.0.0.1:1'],
      qr/--registry-ca: needs an https:\/\/ --registry/ ],
    [ ['--listen', '0.0.0.0:9001', '--registry', 'redis://127.0.0.1:1'],
      qr/--advertise: required when listening on 0\.0\.0\.0/ ],
    [ ['--app', '127.0.0.1:3000'], qr/--app: must be http:\/\/HOST:PORT/ ],
    [ ['--app', 'http://127.0.0.1:3000/api'], qr/--app: must be http:\/\/HOST:PORT with no path/ ],
    [ ['--app', 'http://127.0.0.1'], qr/--app: .*no port/ ],
    [ ['--app-health', 'health'],  qr/--app-health: must be a path starting with \// ],
    [ ['--app', 'http://127.0.0.1:1', '--app-health-status', '200-100'],
      qr/--app-health-status: must be a status code or a range/ ],
    [ ['--app', 'http://127.0.0.1:1', '--app-health-rise', '0'],
      qr/--app-health-rise: must be an integer from 1 to 100/ ],
    [ ['--app', 'http://127.0.0.1:1', '--app-health-interval', '5ms'],
      qr/--app-health-interval: must be a duration from 10ms/ ],
    [ ['--app-timeout', '5s'],     qr/--app: required by --register-only and the --app-\* options/ ],
    [ ['--register-only'],         qr/--app: required by --register-only/ ],
    [ ['--max-clients', 'x'],      qr/--max-clients: must be an integer/ ],
    [ ['--busy-poll', '2000000'],  qr/--busy-poll: must be a number of microseconds from 0 to 1000000/ ],
    [ ['--no-such-flag'],          qr/unknown option "--no-such-flag"/ ],
    [ ['--weight'],                qr/--weight: missing value/ ],
    [ ['stray'],                   qr/unexpected argument "stray"/ ],
);

for my $case (@bad) {
    my ($args, $re) = @$case;
    my ($c, $o, $e) = run_agent(args => $args);
    is($c, 2, "@$args: exit status 2");
    like($e, $re, "@$args: message names the flag and the reason");
    is(scalar(() = $e =~ /\n/g), 1, "@$args: one line");
}

# bad environment values name the variable

my @bad_env = (
    [ { FARM_WEIGHT => '5000' },   qr/^farm-agent: FARM_WEIGHT: must be/ ],
    [ { FARM_TTL => 'forever' },   qr/^farm-agent: FARM_TTL: must be a duration/ ],
    [ { FARM_BACKUP => 'maybe' },  qr/^farm-agent: FARM_BACKUP: must be 1 or 0/ ],
    [ { FARM_META => '[1,2]' },    qr/^farm-agent: FARM_META: must be a JSON object/ ],
    [ { FARM_META => '{bad' },     qr/^farm-agent: FARM_META: invalid JSON/ ],
    [ { FARM_APP => 'ftp://x:1' }, qr/^farm-agent: FARM_APP: must be http/ ],
    [ { FARM_REGISTRY => 'redis://127.0.0.1:1, mysql://x' },
      qr/^farm-agent: FARM_REGISTRY: .*unknown scheme "mysql:\/\/"/ ],
    [ { FARM_REGISTER_ONLY => 'sometimes' },
      qr/^farm-agent: FARM_REGISTER_ONLY: must be 1 or 0/ ],
);

for my $case (@bad_env) {
    my ($env, $re) = @$case;
    my ($name) = keys %$env;
    my ($c, $o, $e) = run_agent(env => $env);
    is($c, 2, "$name=$env->{$name}: exit status 2");
    like($e, $re, "$name=$env->{$name}: message names the variable");
}

# a flag value beats a bad environment value only by replacing it
($code, $out, $err) = run_agent(env => { FARM_WEIGHT => '0' },
                                args => ['--weight', '2', '--version']);
is($code, 2, 'a bad FARM_WEIGHT is reported even when --weight is given');

# cannot listen: exit 1 with the address and the reason

{
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 1, ReuseAddr => 0)
        or die "listen: $!";
    my $port = $busy->sockport;
    my ($c, $o, $e) = run_agent(args => ['--listen', "127.0.0.1:$port"]);
    is($c, 1, 'a port in use: exit status 1');
    like($e, qr/error: cannot listen on 127\.0\.0\.1:$port: Address already in use/,
         'a port in use: the log says where and why');
}

# environment variables work; flags override them

my $port = free_port();
my %env = (
    FARM_LISTEN    => "127.0.0.1:$port",
    FARM_ID        => 'env-agent',
    FARM_SERVICE   => 'envsvc',
    FARM_REGION    => 'eu-west',
    FARM_CAPS      => 'gpu,ssd',
    FARM_WEIGHT    => '7',
    FARM_MAX_CONNS => '9',
    FARM_LOG_LEVEL => 'warn',
);

my $a1 = start_agent(listen => "127.0.0.1:$port", service => 'envsvc',
                     env => \%env, extra => []);
my ($st, $hd, $body) = http_get($a1, '/health');
my $j = json_of($body);
is($st, 200, 'agent configured from the environment answers /health');
is($j->{id}, 'env-agent', 'FARM_ID sets the id');
is($hd->{'x-farm-agent'}, 'env-agent', 'X-Farm-Agent carries the id');
is($j->{service}, 'envsvc', 'FARM_SERVICE sets the service');
is($j->{region}, 'eu-west', 'FARM_REGION sets the region');
is_deeply($j->{caps}, ['gpu', 'ssd'], 'FARM_CAPS sets the capabilities');
is($j->{weight}, 7, 'FARM_WEIGHT sets the weight');
is($j->{max_conns}, 9, 'FARM_MAX_CONNS sets max_conns');
is(stop_agent($a1), 0, 'exit status 0 after SIGTERM');
ok(!log_has($a1, qr/ info: /), 'FARM_LOG_LEVEL=warn silences info lines');
check_agent_log($a1);

# --service must match what start_agent is told, so override the rest
my $a2 = start_agent(listen => "127.0.0.1:$port", service => 'envsvc',
                     env => \%env, id => 'flag-agent', region => 'us',
                     cap => 'cpu', weight => 3,
                     extra => ['--cap', 'big', '--max-conns', '0']);
($st, $hd, $body) = http_get($a2, '/health');
$j = json_of($body);
is($j->{id}, 'flag-agent', '--id overrides FARM_ID');
is($j->{region}, 'us', '--region overrides FARM_REGION');
is_deeply($j->{caps}, ['cpu', 'big'],
          '--cap flags replace FARM_CAPS and add up');
is($j->{weight}, 3, '--weight overrides FARM_WEIGHT');
is($j->{max_conns}, 0, '--max-conns overrides FARM_MAX_CONNS');
is(stop_agent($a2), 0, 'exit status 0 after SIGTERM');
check_agent_log($a2);

# FARM_APP and the FARM_APP_* variables configure --app mode

{
    my $app = start_app();
    my $a = start_agent(env => { FARM_APP => "http://127.0.0.1:$app->{port}",
                                 FARM_APP_HEALTH => '/health',
                                 FARM_APP_HEALTH_INTERVAL => '50ms' });
    wait_until(sub { (http_get($a, '/_farm/health'))[0] == 200 }, 5,
               'the app to be up');
    my ($st, undef, $body) = http_get($a, '/hello');
    is($body, "hello from app\n", 'FARM_APP: requests go to the app');
    ($st, undef, $body) = http_get($a, '/_farm/health');
    is(json_of($body)->{app}{status}, 'up',
       'FARM_APP_HEALTH: the app is checked at /health');
    is(stop_agent($a), 0, 'exit status 0 after SIGTERM');
    check_agent_log($a);
    stop_app($app);
}

# the default id is <hostname>-<port>, reduced to the id alphabet

my $a3 = start_agent();
($st, $hd) = http_get($a3, '/health');
like($hd->{'x-farm-agent'}, qr/^[A-Za-z0-9][A-Za-z0-9._:\@-]*-$a3->{port}$/,
     'default id is <hostname>-<port>');
is(stop_agent($a3), 0, 'exit status 0 after SIGTERM');
check_agent_log($a3);

# --pid-file is written while running and removed at exit

my $pidfile = File::Temp->new->filename;
my $a4 = start_agent(extra => ['--pid-file', $pidfile]);
open my $pf, '<', $pidfile;
my $pid = $pf ? <$pf> : '';
chomp $pid;
is($pid, $a4->{pid}, '--pid-file holds the pid');
stop_agent($a4);
ok(!-e $pidfile, '--pid-file is removed at exit');
check_agent_log($a4);

done_testing();
