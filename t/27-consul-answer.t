# A large Consul answer does not stop the gateway: the sync owner parses it
# off its event loop (a thread of nginx's pool, when nginx has threads) and
# applies it in batches, answering requests in between, so a status
# request made while 10,000 agents join sees some of them already in and
# the rest not yet; and the answer size limit is max_answer=, named when
# an answer is refused.  A real Consul dev agent, a real farm-agent (every
# Consul entry points at it).

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Consul = start_consul();
our %Agent;
our $Many = 10000;

$ENV{TEST_NGINX_CONSUL_PORT} = $Consul->{port};

sub consul_ok {
    my ($method, $path, $body) = @_;
    my ($st, $text) = FarmTest::consul_api($Consul, $method, $path, $body,
                                           timeout => 30);
    die "$method $path: $st $text\n" unless $st == 200;
}

# The node "ext" (not the dev agent's, so Consul's anti-entropy leaves its
# services alone) with its node check in state $status: one catalog write,
# one new index, every service on the node passing or critical at once.
sub ext_node {
    my ($status) = @_;
    consul_ok('PUT', '/v1/catalog/register',
              qq({"Node":"ext","Address":"127.0.0.1","Check":{"CheckID":)
              . qq("ext-alive","Name":"ext alive","Status":"$status"}}));
}

# $n services of "agents" on node ext, all at the agent's port, 128 to a
# transaction (Consul's limit).
sub ext_services {
    my ($n, $port) = @_;
    for (my $i = 0; $i < $n; $i += 128) {
        my @ops;
        for my $k ($i .. ($i + 127 < $n ? $i + 127 : $n - 1)) {
            push @ops, sprintf '{"Service":{"Verb":"set","Node":"ext",'
                . '"Service":{"ID":"x-%05d","Service":"agents",'
                . '"Address":"127.0.0.1","Port":%d}}}', $k, $port;
        }
        consul_ok('PUT', '/v1/txn', '[' . join(',', @ops) . ']');
    }
}

# the gateway's agent count, from a status page of one agent
sub known {
    my ($sock) = @_;
    my ($st, undef, $body) = FarmTest::http_on($sock, '/farm?limit=1');
    return undef unless defined $st && $st == 200;
    return $body =~ /"totals":\{"agents":(\d+)/ ? $1 : undef;
}

sub error_log_has {
    my ($re) = @_;
    open my $fh, '<', nginx_error_log() or return 0;
    local $/;
    return <$fh> =~ $re;
}

# every service of ext and the agent's own, polled from the status page
sub all_known {
    my $want = $Many + 1;
    my $ok = eval {
        FarmTest::wait_until(sub {
            my ($st, undef, $body) = FarmTest::http_get(
                FarmTest::gateway_port(), '/farm?limit=1');
            return defined $st && $body =~ /"totals":\{"agents":$want,/;
        }, 120, "$want agents");
        1;
    };
    Test::More::ok($ok, "all $want agents are known");
}

# the size of the last answer read and the turns of the loop it took
sub answer_read {
    open my $fh, '<', nginx_error_log() or return;
    my ($bytes, $turns);
    while (<$fh>) {
        ($bytes, $turns) = ($1, $2)
            if /farm: consul answer of (\d+) bytes read in (\d+) turns/;
    }
    return ($bytes, $turns);
}

master_on();
workers(1);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__
=== TEST 1: an answer over max_answer= is refused with a line naming the limit; the known agents keep serving
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s timeout=10s max_agents=20000 max_answer=64k;
    }
--- init
FarmTest::ensure_agents($main::Consul, \%main::Agent, a => {});
main::ext_node('critical');
main::ext_services($main::Many, $main::Agent{a}{port});
my $ok = eval {
    FarmTest::wait_until(sub {
        main::error_log_has(qr/larger than max_answer=64k/)
    }, 30, 'the refusal');
    1;
};
Test::More::ok($ok, 'the answer is refused');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: a
--- error_log eval
qr/\[error\] .*farm: registry consul:\/\/127\.0\.0\.1:\d+ of upstream "agents" is unreachable \(the answer is larger than max_answer=64k\); routing to the 1 last known agents/




=== TEST 2: while 10,000 agents join from one Consul answer, the sync owner answers requests in between
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s timeout=10s max_agents=20000;
    }
--- init
FarmTest::ensure_agents($main::Consul, \%main::Agent, a => {});
# the services, critical (as TEST 1 left them): listed, not routed
main::ext_node('critical');
main::ext_services($main::Many, $main::Agent{a}{port});
my $sock = FarmTest::http_conn(FarmTest::gateway_port());
FarmTest::wait_until(sub {
    my ($st, undef, $body) = FarmTest::http_on($sock, '/farm?limit=1');
    return defined $st && $body =~ /"totals":\{"agents":1,/;
}, 30, 'one agent');
main::ext_node('passing');
my (%seen, @bad);
my $want = $main::Many + 1;
my $ok = eval {
    FarmTest::wait_until(sub {
        my $n = main::known($sock);
        die "no status answer\n" unless defined $n;
        $seen{$n}++;
        my ($st) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0');
        push @bad, $st // 'none' unless ($st // 0) == 200;
        return $n == $want;
    }, 120, "$want agents");
    1;
};
Test::More::ok($ok, "all $want agents joined") or Test::More::diag($@);
my @between = grep { $_ > 1 && $_ < $want } keys %seen;
Test::More::ok(@between > 0, 'status answered while the answer was being '
               . 'applied (counts seen: ' . join(',', sort { $a <=> $b } keys %seen) . ')');
Test::More::is("@bad", '', 'every request during the sync got a 200');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: max_answer= large enough: the same 10,001 entries are taken
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s timeout=10s max_agents=20000 max_answer=16m;
    }
--- init
main::all_known();
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: the sync owner reads a large answer a slice at a time: many turns of its event loop, not a few long reads
--- log_level: debug
--- http_config
    upstream agents {
        farm_registry consul://127.0.0.1:$TEST_NGINX_CONSUL_PORT service=agents
                      resync=2s timeout=10s max_agents=20000;
    }
--- init
main::all_known();
# the master's warm start read the first; the sync owner's next query
my ($bytes, $turns);
eval {
    FarmTest::wait_until(sub {
        ($bytes, $turns) = main::answer_read();
        return defined $bytes;
    }, 30, 'an answer read by the sync owner');
};
Test::More::ok(defined $bytes && $bytes > 4 * 1024 * 1024,
               'an answer of more than 4 MB was read (' . ($bytes // 'none') . ' bytes)');
# 256 KB a turn; at least one turn per MB leaves room for a turn's extras
Test::More::ok(defined $turns && $turns >= int(($bytes // 0) / (1024 * 1024)),
               'read in ' . ($turns // 'no') . ' turns');
--- request
GET /work?ms=0
--- error_code: 200
--- no_error_log
[error]
