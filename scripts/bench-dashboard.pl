#!/usr/bin/env perl
# The dashboard at scale: N agents (default 10,000) in one pool, what one
# farm_status answer costs the gateway, and what a poll costs the page in a
# headless Chromium (script, layout and task time per poll, from the
# DevTools protocol's Performance.getMetrics over 10 polls), for the first
# page of 100 and for a text search (the whole list every poll).
#
#   scripts/bench-dashboard.pl [N]       after make; needs redis-server,
#                                        redis-cli and chromium (make deps)
#
# Starts its own redis-server, nginx (build/ngx_http_farm_module.so) and
# Chromium on 127.0.0.1 through t/lib's FarmTest and FarmBrowser, which
# stop them by pid when it ends.  Writes the records with one redis-cli
# --pipe; the gateway reads them in its next full sync (resync=1s).

use strict;
use warnings;

use FindBin ();
use lib "$FindBin::Bin/../t/lib";
use FarmTest;
use FarmBrowser;
use Time::HiRes qw(time);

binmode STDOUT, ':utf8';

my $n = $ARGV[0] // 10000;
my $redis = start_redis();
my $gw = start_nginx(http => qq{
    upstream agents {
        farm_registry redis://127.0.0.1:$redis->{port} service=agents
                      max_agents=@{[ $n * 2 ]} resync=1s;
    }
    server {
        listen 127.0.0.1:\$PORT;
        location = /farm { farm_status; }
        location = /dash { farm_dashboard status=/farm; }
    }
});
$ENV{TEST_NGINX_PORT} = $gw->{port};

open my $pipe, '|-', "redis-cli -p $redis->{port} --pipe > /dev/null"
    or die "redis-cli: $!\n";
for my $i (0 .. $n - 1) {
    my $id = sprintf 'agent-%05d', $i;
    my $rec = qq({"id":"$id","service":"agents","address":"127.0.0.1",)
            . qq("port":9,"region":"r@{[ $i % 7 ]}","caps":["gpu"],)
            . qq("meta":{"rack":"r$i"}});
    for my $cmd (['SET', "farm:agents:agent:$id", $rec, 'PX', 600000],
                 ['SADD', 'farm:agents:agents', $id]) {
        print {$pipe} '*' . @$cmd . "\r\n"
            . join('', map { '$' . length($_) . "\r\n$_\r\n" } @$cmd);
    }
}
close $pipe or die "redis-cli --pipe failed\n";
wait_until(sub { (farm_status()->{farms}[0]{totals}{agents} // 0) == $n },
           120, "the gateway to know the $n agents");

for my $path ('/farm', '/farm?limit=100&offset=0') {
    my $t = time;
    my (undef, undef, $body) = http_get($gw->{port}, $path);
    printf "GET %-26s %8d bytes in %4.0f ms\n", $path, length $body,
           (time - $t) * 1000;
}

my $b = FarmBrowser->start;
$b->call('Performance.enable');

sub metrics {
    return { map { $_->{name} => $_->{value} }
             @{ $b->call('Performance.getMetrics')->{metrics} } };
}

for my $view ('', '&q=agent-0999') {
    $b->navigate("http://127.0.0.1:$gw->{port}/dash#interval=1000$view");
    $b->wait_js('+document.documentElement.dataset.renders >= 2', 120,
                'two polls drawn');
    my $m0 = metrics();
    my $r0 = $b->eval_js('+document.documentElement.dataset.renders');
    $b->wait_js("+document.documentElement.dataset.renders >= $r0 + 10", 120,
                'ten more polls');
    my $m1 = metrics();
    my $polls = $b->eval_js('+document.documentElement.dataset.renders') - $r0;
    printf "page %-16s per poll: script %3.0f ms, layout %3.0f ms, "
           . "task %3.0f ms; JS heap %.0f MB; %s\n",
           $view || '(first 100)',
           (map { ($m1->{$_} - $m0->{$_}) * 1000 / $polls }
                qw(ScriptDuration LayoutDuration TaskDuration)),
           $m1->{JSHeapUsedSize} / 1e6,
           $b->eval_js('document.getElementById("range").textContent');
    my @p = $b->problems;
    print "  page problem: $_\n" for @p;
}

$b->stop;
