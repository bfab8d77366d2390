# nginx -s reload: agents and counters live on in shared memory, no request
# fails during the reload, and the shared memory is not leaked.  Redis, or
# the built-in registry (t/54-builtin-reload.t: FARM_TEST_REGISTRY=builtin).

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = FarmTest::start_registry();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_REGISTRY_URL} = FarmTest::registry_url($Redis);
$ENV{TEST_NGINX_REGISTRY_API} = FarmTest::registry_location($Redis);

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# shared memory mappings of the nginx master
sub shm_maps {
    my $pid = nginx_pid() or die "no nginx pid\n";
    open my $fh, '<', "/proc/$pid/maps" or die "maps: $!\n";
    return scalar grep { m{/dev/zero|SYSV} } <$fh>;
}

# HUP the master and keep requesting until the new workers answer; returns
# the number of requests that did not get a 200
sub reload_under_traffic {
    my ($conf_edit) = @_;
    my $conf = servroot() . '/conf/nginx.conf';
    if ($conf_edit) {
        open my $in, '<', $conf or die "$conf: $!\n";
        my $text = do { local $/; <$in> };
        close $in;
        $conf_edit->($text);
        open my $out, '>', $conf or die "$conf: $!\n";
        print $out $text;
        close $out;
    }
    my $pid = nginx_pid();
    my %old = map { $_ => 1 } worker_pids($pid);
    kill 'HUP', $pid;
    my $bad = 0;
    my $deadline = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $deadline) {
        my ($code) = http_get(gateway_port(), '/work?ms=0');
        $bad++ if !defined $code || $code != 200;
        my @now = worker_pids($pid);
        last if @now && !grep { $old{$_} } @now;
    }
    return $bad;
}

sub worker_pids {
    my ($master) = @_;
    opendir my $d, '/proc' or return ();
    my @pids;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        my ($ppid) = $stat =~ /^\d+ \(.*?\) \S (\d+)/;
        push @pids, $p if defined $ppid && $ppid == $master
                          && -r "/proc/$p/cmdline"
                          && `cat /proc/$p/cmdline` =~ /worker process/
                          && `cat /proc/$p/cmdline` !~ /shutting down/;
    }
    return @pids;
}

master_on();
workers(2);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry $TEST_NGINX_REGISTRY_URL service=agents
                      resync=300ms;
        farm_balance least_conn;
        keepalive 8;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
    location = /farm {
        farm_status;
    }
    $TEST_NGINX_REGISTRY_API
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: five reloads under traffic: no failed request, agents and counters kept, no shared memory leaked
--- init
main::agents(a => {}, b => {});
FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0') for 1 .. 20;
my $before = FarmTest::farm_status()->{farms}[0]{totals}{requests};
my $maps = main::shm_maps();
my $bad = 0;
$bad += main::reload_under_traffic() for 1 .. 5;
Test::More::is($bad, 0, 'no request failed during five reloads');
my $st = FarmTest::farm_status()->{farms}[0];
Test::More::is($st->{totals}{agents}, 2, 'both agents still known');
Test::More::cmp_ok($st->{totals}{requests}, '>', $before,
                   "request counter carried over ($before before, $st->{totals}{requests} after)");
Test::More::is(main::shm_maps(), $maps, 'the master maps as many shared zones as before');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 2: a reload that changes the balancing method keeps the agents
--- init
main::agents(a => {}, b => {});
my $bad = main::reload_under_traffic(sub { $_[0] =~ s/farm_balance least_conn;/farm_balance hash \$arg_k consistent;/ });
Test::More::is($bad, 0, 'no request failed during the reload');
my %seen;
for (1 .. 10) {
    my (undef, $h) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0&k=same');
    $seen{ $h->{'x-farm-agent'} }++;
}
Test::More::is(scalar(keys %seen), 1, 'the new method (hash) is in force: one key, one agent');
--- request
GET /farm
--- response_body_like: "balance":"hash consistent".*"totals":\{"agents":2
--- no_error_log
[error]
[alert]



=== TEST 3: a reload that resizes the zone starts a new zone, filled before the new workers start
--- init
main::agents(a => {}, b => {});
my $bad = main::reload_under_traffic(sub { $_[0] =~ s/resync=300ms;/resync=300ms max_agents=4096;/ });
Test::More::is($bad, 0, 'no request failed during the reload');
--- request
GET /farm
--- response_body_like: "totals":\{"agents":2
--- no_error_log
[error]
[alert]



=== TEST 4: a reload that adds farm_queue to an upstream with zone= (the zone lives on) completes, and the new workers queue
--- http_config
    upstream agents {
        farm_registry $TEST_NGINX_REGISTRY_URL service=agents
                      resync=300ms zone=8m;
        farm_balance least_conn;
        keepalive 8;
    }
--- init
main::agents(a => {}, b => {});
my $master = main::nginx_pid();
my %old = map { $_ => 1 } main::worker_pids($master);
my $bad = main::reload_under_traffic(sub { $_[0] =~ s/keepalive 8;/farm_queue max=16 timeout=1s;\n        keepalive 8;/ });
my @now = main::worker_pids($master);
Test::More::ok(@now && !grep({ $old{$_} } @now),
               'new workers replaced the old ones: the master did not hang');
Test::More::is($bad, 0, 'no request failed during the reload');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,"max":16,
--- no_error_log
[error]
[alert]




=== TEST 5: a reload that changes farm_queue max= in a live zone is refused with a reason, and the old configuration keeps serving
--- http_config
    upstream agents {
        farm_registry $TEST_NGINX_REGISTRY_URL service=agents
                      resync=300ms zone=4m;
        farm_balance least_conn;
        farm_queue max=100 timeout=5s;
        keepalive 8;
    }
--- init
main::agents(a => {}, b => {});
my $conf = FarmTest::servroot() . '/conf/nginx.conf';
open my $in, '<', $conf or die "$conf: $!\n";
my $text = do { local $/; <$in> };
close $in;
$text =~ s/max=100/max=200/;
open my $out, '>', $conf or die "$conf: $!\n";
print $out $text;
close $out;
my $pid = FarmTest::nginx_pid();
my @old = main::worker_pids($pid);
kill 'HUP', $pid;
FarmTest::wait_until(sub { open my $fh, '<', FarmTest::nginx_error_log() or return; local $/; <$fh> =~ /cannot change from 100 to 200/ }, 5, 'the refusal in error.log');
my @now = main::worker_pids($pid);
Test::More::is("@{[sort @now]}", "@{[sort @old]}", 'the old workers keep serving');
my $st = FarmTest::farm_status()->{farms}[0];
Test::More::is($st->{queue}{max}, 100, 'the queue keeps max=100');
--- request
GET /work?ms=0
--- error_code: 200
--- error_log eval
qr/\[emerg\].*farm_queue max= cannot change from 100 to 200 in a live zone/
--- no_error_log
[alert]



=== TEST 6: every farm directive added, changed and removed across reloads (with and without zone=): each reload completes or is refused with a reason, never a hang or a crash, and requests keep working
--- http_config
    upstream agents {
        farm_registry $TEST_NGINX_REGISTRY_URL service=agents
                      resync=300ms zone=8m;
        keepalive 8;
    }
--- init
main::agents(a => { region => 'eu', cap => 'gpu' }, b => { region => 'us' });
my @steps = (
    'farm_balance least_conn;',
    'farm_balance hash $arg_k consistent;',
    'farm_balance hash $arg_k;',
    'farm_balance round_robin;',
    'farm_health_check uri=/health interval=500ms;',
    'farm_health_check uri=/health interval=700ms rise=1 fall=2;',
    'farm_breaker failures=3 cooldown=1s;',
    'farm_breaker failures=3 cooldown=1s; farm_health_check uri=/health;',
    'farm_region $arg_region; farm_region_fallback eu us;',
    'farm_region $arg_region; farm_region_fallback *; farm_require $arg_cap;',
    'farm_client_limit key=$remote_addr max=100;',
    'farm_queue max=50 timeout=2s;',
    'farm_queue max=50 timeout=3s priority=$arg_p; farm_client_limit key=$remote_addr max=50;',
    '',
);
my $bad = 0;
for my $step (@steps) {
    $bad += main::reload_under_traffic(sub {
        $_[0] =~ s/(zone=8m;\n).*?(\s*keepalive 8;)/$1        $step$2/s;
    });
    my ($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
    Test::More::is($code, 200, "a request after the reload to: " . ($step || 'nothing'));
}
Test::More::is($bad, 0, 'no request failed during ' . scalar(@steps) . ' reloads');
my $st = FarmTest::farm_status()->{farms}[0];
Test::More::is($st->{totals}{agents}, 2, 'both agents still known');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[alert]
[crit]
[emerg]
