# farm_kong under load: `nginx -s reload` with a changed kong.yml while
# clients keep sending requests.  Every request is answered 200 by one of
# the file's targets, before, during and after each switch: no 404 from a
# half-built router, no 502/503, no dropped connection.  The clients open
# one connection per request (a kept-alive connection closed by a worker
# that is shutting down is the client's to retry, in nginx as in Kong).

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;
use File::Temp ();

our $A = free_port();
our $B = free_port();
our $Dir = File::Temp::tempdir('kong-reload-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the requests target $name has answered (its access log)
sub served {
    my ($name) = @_;
    open my $fh, '<', "$Dir/$name.log" or return 0;
    my $n = 0;
    $n++ while <$fh>;
    return $n;
}

# a kong.yml whose /load route goes to target $name (and $extra routes)
sub kong_file {
    my ($name, $extra) = @_;
    my $port = $name eq 'a' ? $A : $B;
    my $yml = <<"_YML_";
upstreams:
- name: pool
  targets:
  - target: 127.0.0.1:$port
services:
- name: s
  host: pool
  routes:
  - paths: [/load]
_YML_
    $yml .= "  - paths: [/extra$_]\n" for 1 .. ($extra // 0);
    return $yml;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', kong_targets([a => $A, b => $B],
                                                  server => "access_log $Dir/NAME.log;"))
        unless defined $block->http_config;
});

kong_server();
master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: six reloads with a changed kong.yml under a steady load: every request answered 200 by a target
--- user_files eval
">>> kong.yml
_format_version: \"3.0\"
" . main::kong_file('a')
--- init
my $stop = "$main::Dir/stop";
unlink $stop;
my $load = FarmTest::background('kong load', $^X,
                                FarmTest::repo_root() . '/t/lib/kong_load.pl',
                                FarmTest::gateway_port(), '/load', 4, $stop);
my $ok = eval {
    FarmTest::wait_until(sub { main::served('a') >= 50 }, 60, 'the load reaches a');
    for my $round (1 .. 6) {
        my $to = $round % 2 ? 'b' : 'a';
        my $before = main::served($to);
        FarmKong::kong_write(main::kong_file($to, $round * 50));
        FarmKong::kong_reload();
        FarmTest::wait_until(sub { main::served($to) >= $before + 50 }, 60,
                             "round $round: the load reaches $to");
    }
    1;
};
my $err = $@;
open my $fh, '>', $stop or die "$stop: $!\n";
close $fh;
my ($rc, $out) = FarmTest::finish($load, 60);
die $err unless $ok;
my %got = map { split /\t/ } split /\n/, $out;
my $total = 0;
$total += $_ for values %got;
my @bad = grep { !/\Astatus 200 [ab]\z/ } sort keys %got;
Test::More::is($rc, 0, 'the load ran');
Test::More::cmp_ok($total, '>=', 350, "the load sent its requests ($total)");
Test::More::is(join(', ', map { "$_: $got{$_}" } @bad), '',
               'no request failed, none got another status');
Test::More::cmp_ok($got{'status 200 a'} // 0, '>', 0, 'a answered');
Test::More::cmp_ok($got{'status 200 b'} // 0, '>', 0, 'b answered');
--- request
GET /load
--- response_headers
X-Target: a
--- no_error_log
[error]
[alert]
