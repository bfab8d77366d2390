# state=: the file is written without following a link planted at its
# temporary name, and holds every field of every record.  Redis only (the
# Consul side is in t/22-state.t).

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use File::Temp ();
use JSON::PP ();

our $Redis = start_redis();
our %Agent;

our $Dir = File::Temp::tempdir('farm-state-XXXX', TMPDIR => 1, CLEANUP => 1);

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_STATE_DIR} = $Dir;

# The records of a state file by id, or undef if there is none (or it is
# not JSON).
sub saved {
    my ($name) = @_;
    open my $f, '<', "$Dir/$name" or return undef;
    my $list = eval { JSON::PP::decode_json(do { local $/; <$f> }) }
        or return undef;
    return { map { $_->{id} => $_ } @$list };
}

sub saved_ids {
    my $s = saved(@_) or return '';
    return join ',', sort keys %$s;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms timeout=500ms
                      state=$TEST_NGINX_STATE_DIR/agents.json;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

master_on();
workers(1);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a link planted at the temporary file's name is not followed; the file it points at stays intact
--- init
FarmTest::ensure_agents($main::Redis, \%main::Agent, s1 => { ttl => '60s' });
FarmTest::wait_until(sub { main::saved_ids('agents.json') eq 's1' }, 10,
                     'the state file to list s1');
my ($worker) = FarmTest::worker_pids();
open my $v, '>', "$main::Dir/victim" or die "$main::Dir/victim: $!\n";
print {$v} "precious\n";
close $v;
symlink "$main::Dir/victim", "$main::Dir/agents.json.$worker.tmp"
    or die "symlink: $!\n";
FarmTest::ensure_agents($main::Redis, \%main::Agent, s1 => { ttl => '60s' },
                        s2 => { ttl => '60s' });
FarmTest::wait_until(sub { main::saved_ids('agents.json') eq 's1,s2' }, 10,
                     'the state file to list s1 and s2');
open $v, '<', "$main::Dir/victim" or die "$main::Dir/victim: $!\n";
Test::More::is(do { local $/; <$v> }, "precious\n", 'the linked file is intact');
Test::More::ok(!-l "$main::Dir/agents.json", 'the state file is not a link');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: the file holds every field of a record, as the record says
--- init
FarmTest::ensure_agents($main::Redis, \%main::Agent, s1 => { ttl => '60s' });
FarmTest::put_record($main::Redis, id => 'full', port => $main::Agent{s1}{port},
                     region => 'eu-west', caps => ['gpu', 'x86'], weight => 3,
                     max_conns => 7, backup => JSON::PP::false,
                     meta => { version => '1.2', n => 4 });
FarmTest::wait_until(sub { main::saved_ids('agents.json') eq 'full,s1' }, 10,
                     'the state file to list full and s1');
my $r = main::saved('agents.json')->{full};
Test::More::is(JSON::PP->new->canonical->encode($r),
               '{"address":"127.0.0.1","backup":false,"caps":["gpu","x86"],'
               . '"id":"full","max_conns":7,"meta":{"n":4,"version":"1.2"},'
               . '"port":' . $main::Agent{s1}{port} . ',"region":"eu-west",'
               . '"service":"agents","weight":3}',
               'the saved record');
FarmTest::deregister($main::Redis, 'full');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: a bad allow= entry fails the configuration, naming it
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      allow=10.0.0.0/8,10.0.0.0/33;
    }
--- request
GET /work?ms=0
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_registry" parameter "allow=10\.0\.0\.0\/8,10\.0\.0\.0\/33": "10\.0\.0\.0\/33" is not an address or a network \(CIDR\) in \S+nginx\.conf:\d+/



=== TEST 4: a farm_limit redis= URL that does not parse: the error does not quote its password
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
    }
--- config
    location /a {
        farm_limit zone=api:1m key=$remote_addr minute=5 policy=redis
                   redis=redis://:s3cret-pw@127.0.0.1:99999;
        empty_gif;
    }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "redis=": registry URL: port must be a number from 1 to 65535/
--- no_error_log
s3cret-pw



=== TEST 5: a farm_limit redis= URL of another scheme: the error shows it without the password
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
    }
--- config
    location /a {
        farm_limit zone=api:1m key=$remote_addr minute=5 policy=redis
                   redis=http://127.0.0.1:8500;
        empty_gif;
    }
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_limit" parameter "redis=[a-z]+:\/\/127\.0\.0\.1:8500": expected a redis:\/\/ or rediss:\/\/ URL/



=== TEST 6: a farm_consumers URL that does not parse: the error does not quote its password
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
    }
    farm_consumers redis://user:s3cret-pw@127.0.0.1:99999;
--- request
GET /a
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "farm_consumers" URL: registry URL: port must be a number from 1 to 65535/
--- no_error_log
s3cret-pw



=== TEST 7: sized by "thread_pool default", the pool flushes and renames the file
--- main_config
    thread_pool default threads=1;
--- init
FarmTest::ensure_agents($main::Redis, \%main::Agent, s1 => { ttl => '60s' });
FarmTest::wait_until(sub { main::saved_ids('agents.json') eq 's1' }, 10,
                     'the state file to list s1');
FarmTest::ensure_agents($main::Redis, \%main::Agent, s1 => { ttl => '60s' },
                        s3 => { ttl => '60s' });
FarmTest::wait_until(sub { main::saved_ids('agents.json') eq 's1,s3' }, 10,
                     'the state file to list s1 and s3');
Test::More::ok(!glob("$main::Dir/agents.json.*.tmp"), 'no temporary file is left');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]
