# Bad and hostile registry input through Redis: an oversized value is not
# read whole, a bad index member is reported once, an index of the wrong
# type is named as such, registry bytes cannot forge log lines, records may
# only point at allowed addresses, and a Redis user without channel
# permissions still syncs.  Real redis-server and farm-agent.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

# gateway users without channel permissions (Redis 7's default for new
# users), or with the events channel only
redis_cmd($Redis, 'ACL', 'SETUSER', 'gw', 'on', '>gw-secret', '~*', '+@all',
          'resetchannels');
redis_cmd($Redis, 'ACL', 'SETUSER', 'gw2', 'on', '>gw-secret', '~*', '+@all',
          'resetchannels', '&farm:agents:events');

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

sub full_syncs {
    return farm_status()->{farms}[0]{sync}{full_syncs};
}

# waits until $n more full syncs are done
sub syncs {
    my ($n) = @_;
    my $at = full_syncs();
    wait_until(sub { full_syncs() >= $at + $n }, 10, "$n full syncs");
}

sub error_log_has {
    my ($re) = @_;
    open my $fh, '<', nginx_error_log() or return 0;
    local $/;
    return <$fh> =~ $re;
}

# waits up to 5 s for a line of the error log; a test, not a die, when it
# never comes
sub wait_log {
    my ($re, $what) = @_;
    my $ok = eval { wait_until(sub { error_log_has($re) }, 5, $what); 1 };
    Test::More::ok($ok, $what);
}

sub record {
    my ($id, $json) = @_;
    redis_cmd($Redis, 'SET', "farm:agents:agent:$id", $json, 'PX', 60000);
    redis_cmd($Redis, 'SADD', 'farm:agents:agents', $id);
    redis_cmd($Redis, 'PUBLISH', 'farm:agents:events', "register $id");
}

sub unrecord {
    my ($id) = @_;
    redis_cmd($Redis, 'DEL', "farm:agents:agent:$id");
    redis_cmd($Redis, 'SREM', 'farm:agents:agents', $id);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
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
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a 16 MB value is skipped with a line naming its key, and the sync owner does not read it whole
--- init
main::agents(a => { ttl => '60s' });
my $owner = FarmTest::process_peer($main::Redis->{port}, FarmTest::worker_pids());
Test::More::ok($owner, "the sync owner is worker $owner");
main::syncs(2);
my $before = FarmTest::proc_status_kb($owner, 'VmHWM');
main::record('big', '{"id":"big","service":"agents","address":"127.0.0.1","port":9,'
                    . '"meta":{"x":"' . ('x' x (16 << 20)) . '"}}');
main::wait_log(qr/agent:big/, 'the big record is reported');
main::syncs(3);
my $after = FarmTest::proc_status_kb($owner, 'VmHWM');
Test::More::cmp_ok($after - $before, '<', 4096,
                   "the sync owner's peak memory grew by " . ($after - $before) . ' kB');
main::unrecord('big');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
skipping registry record "farm:agents:agent:big" of upstream "agents": record: larger than 64k
--- grep_error_log eval: qr/skipping registry record "farm:agents:agent:big"/
--- grep_error_log_out
skipping registry record "farm:agents:agent:big"



=== TEST 2: a bad member of the index is reported once, not at every full sync
--- init
main::agents(a => { ttl => '60s' });
FarmTest::redis_cmd($main::Redis, 'SADD', 'farm:agents:agents', 'bad id');
main::syncs(4);
FarmTest::redis_cmd($main::Redis, 'SREM', 'farm:agents:agents', 'bad id');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- grep_error_log eval: qr/skipping member "bad id" of farm:agents:agents: not a valid agent id/
--- grep_error_log_out
skipping member "bad id" of farm:agents:agents: not a valid agent id



=== TEST 3: an index key of the wrong type is named as such, not as an unreachable registry
--- init
main::agents(a => { ttl => '60s' });
FarmTest::redis_cmd($main::Redis, 'DEL', 'farm:agents:agents');
FarmTest::redis_cmd($main::Redis, 'SET', 'farm:agents:agents', 'oops');
main::wait_log(qr/must be a Redis set/, 'the index error says what is wrong');
FarmTest::redis_cmd($main::Redis, 'DEL', 'farm:agents:agents');
FarmTest::redis_cmd($main::Redis, 'SADD', 'farm:agents:agents', 'a');
main::syncs(1);
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
qr/\[error\] .*farm: registry redis:\/\/127\.0\.0\.1:\d+\/0 of upstream "agents" answered SSCAN farm:agents:agents with an error \(WRONGTYPE [^)]*\): the agent index must be a Redis set; keeping the 1 known agents/
--- no_error_log
unreachable



=== TEST 4: registry bytes cannot forge log lines
--- init
main::agents(a => { ttl => '60s' });
main::syncs(1);         # subscribed: the message is not lost
FarmTest::redis_cmd($main::Redis, 'PUBLISH', 'farm:agents:events',
                    "register x\r\nFORGED-BY-MESSAGE");
FarmTest::redis_cmd($main::Redis, 'SADD', 'farm:agents:agents', "m\nFORGED-BY-MEMBER");
main::record('esc', qq({"id":"esc","service":"agents","address":"x\\n\\u001bFORGED","port":9}));
main::syncs(2);
FarmTest::redis_cmd($main::Redis, 'SREM', 'farm:agents:agents', "m\nFORGED-BY-MEMBER");
main::unrecord('esc');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log
ignoring message "register x\x0d\x0aFORGED-BY-MESSAGE" on farm:agents:events
skipping member "m\x0aFORGED-BY-MEMBER" of farm:agents:agents
skipping registry record "farm:agents:agent:esc"
--- no_error_log eval
[qr/^FORGED/m, qr/\x1b/]



=== TEST 5: by default records may not point at link-local or cloud metadata addresses
--- init
main::agents(a => { ttl => '60s' });
my %bad = (meta => '169.254.169.254', ll4 => '169.254.1.2', ll6 => 'fe80::1',
           mapped => '::ffff:169.254.169.254', ec2 => 'fd00:ec2::254',
           ali => '100.100.100.200');
main::record($_, qq({"id":"$_","service":"agents","address":"$bad{$_}","port":80}))
    for sort keys %bad;
main::wait_log(qr/agent:ali".*100\.100\.100\.200/, 'the refusals');
main::syncs(1);
Test::More::is(join(',', sort keys %{ FarmTest::farm_agents() }), 'a',
               'none of them joined');
main::unrecord($_) for sort keys %bad;
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
[qr/skipping registry record "farm:agents:agent:meta" of upstream "agents": address: 169\.254\.169\.254 is a link-local or cloud metadata address; farm_registry allow= must list it to be used/,
 qr/"farm:agents:agent:ll4" .*address: 169\.254\.1\.2 is a link-local/,
 qr/"farm:agents:agent:ll6" .*address: fe80::1 is a link-local/,
 qr/"farm:agents:agent:mapped" .*address: ::ffff:169\.254\.169\.254 is a link-local/,
 qr/"farm:agents:agent:ec2" .*address: fd00:ec2::254 is a link-local/,
 qr/"farm:agents:agent:ali" .*address: 100\.100\.100\.200 is a link-local/]



=== TEST 6: allow= lists the only networks records may point at
--- http_config
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms allow=127.0.0.0/8,::1 allow=169.254.169.254;
    }
--- init
main::agents(a => { ttl => '60s' });
main::record('ten', '{"id":"ten","service":"agents","address":"10.0.0.1","port":80}');
main::record('six', '{"id":"six","service":"agents","address":"2001:db8::1","port":80}');
main::record('meta', '{"id":"meta","service":"agents","address":"169.254.169.254","port":80}');
main::wait_log(qr/agent:six/, 'the refusals');
main::syncs(1);
Test::More::is(join(',', sort keys %{ FarmTest::farm_agents() }), 'a,meta',
               'only the allowed ones joined');
main::unrecord($_) for qw(ten six meta);
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
[qr/skipping registry record "farm:agents:agent:ten" of upstream "agents": address: 10\.0\.0\.1 is not in allow= of farm_registry/,
 qr/skipping registry record "farm:agents:agent:six" of upstream "agents": address: 2001:db8::1 is not in allow= of farm_registry/]



=== TEST 7: a Redis user without channel permissions: SUBSCRIBE is refused, full syncs go on
--- http_config
    upstream agents {
        farm_registry redis://gw:gw-secret@127.0.0.1:$TEST_NGINX_REDIS_PORT
                      service=agents resync=300ms;
    }
--- init
# b registers after the gateway started: only a full sync can find it
main::agents(a => { ttl => '60s' }, b => { ttl => '60s' });
my %c = %{ FarmTest::spread(10) };
Test::More::ok($c{b}, 'b gets requests') or Test::More::diag(join ',', %c);
--- request
GET /farm
--- response_body_like: "id":"b"
--- error_log eval
qr/\[warn\] .*registry redis:\/\/127\.0\.0\.1:\d+\/0 of upstream "agents" refused SUBSCRIBE farm:agents:events \(NOPERM[^)]*\): its user needs the channel permission "&farm:agents:events"; until then changes are seen only at the full syncs, every 300 ms/
--- no_error_log
[error]
gw-secret



=== TEST 8: a Redis user with the events channel but not keyspace events: PSUBSCRIBE is refused, events go on
--- http_config
    upstream agents {
        farm_registry redis://gw2:gw-secret@127.0.0.1:$TEST_NGINX_REDIS_PORT
                      service=agents resync=1h;
    }
--- init
main::wait_log(qr/refused PSUBSCRIBE/, 'the refusal');
# no full sync after this one (resync=1h): c is seen through its event
main::agents(c => { ttl => '60s' });
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: c
--- error_log eval
qr/\[warn\] .*refused PSUBSCRIBE __keyspace\@0__:farm:agents:agent:\* \(NOPERM[^)]*\): its user needs the channel permission "&__keyspace\@0__:farm:agents:agent:\*" for keyspace events/
--- no_error_log
[error]
gw-secret
