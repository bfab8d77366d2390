# farm_dashboard: the page as served (headers, Content-Security-Policy, the
# locations it is told about), bad directives, and the page at work in a
# headless Chromium driven through the DevTools protocol (t/lib/
# FarmBrowser.pm): it loads with no CSP violation and no console error,
# shows a registry's hostile string as text, turns a killed agent red within
# two polls, pages and filters a large pool, and drains an agent through
# farm_admin.  One Chromium for the whole file, stopped by pid at the end.

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmBrowser;
use File::Temp ();

our $Redis = start_redis();
our %Agent;
our $Browser;
our $Hostile = q{<img src=x onerror="document.title='pwned'"> & "quoted" <b>bold</b>};
our $Token = 'dashboard-test-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

my $tmp = File::Temp::tempdir('farm-dashboard-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $tf, '>', "$tmp/admin.token" or die "$tmp/admin.token: $!\n";
print {$tf} "$Token\n";
close $tf;
$ENV{TEST_NGINX_ADMIN_TOKEN_FILE} = "$tmp/admin.token";

# Does this build know farm_admin (issue 12's admin API)?  nginx -t says.
our $HaveAdmin = do {
    my $bin = $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
    my $mods = $ENV{TEST_NGINX_LOAD_MODULES}
               // repo_root() . '/build/ngx_http_farm_module.so';
    mkdir "$tmp/logs";
    open my $c, '>', "$tmp/probe.conf" or die "$tmp/probe.conf: $!\n";
    print {$c} join('', map { "load_module $_;\n" } split ' ', $mods)
        . "events {}\nhttp { server { listen 127.0.0.1:1;\n"
        . "location /a/ { farm_admin token_file=$tmp/admin.token; } } }\n";
    close $c;
    my $out = `'$bin' -t -p '$tmp/' -c '$tmp/probe.conf' 2>&1`;
    $? == 0 ? 1 : ($out =~ /unknown directive "farm_admin"/ ? 0 : die
                   "t/47-dashboard.t: nginx -t of the farm_admin probe failed:\n$out");
};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

# The browser, started once; the page of this test's gateway loaded fresh,
# with the problems of earlier pages forgotten.
sub open_page {
    my ($fragment) = @_;
    $Browser //= FarmBrowser->start;
    $Browser->navigate('about:blank');
    $Browser->wait_js('location.href === "about:blank"', 10, 'about:blank');
    $Browser->forget;
    $Browser->navigate('http://127.0.0.1:' . gateway_port() . '/farm/dashboard'
                       . ($fragment // '#interval=500'));
    $Browser->wait_js('+document.documentElement.dataset.renders >= 1', 30,
                      'the page to draw the status once');
}

# JavaScript: the row of agent $id
sub row { qq{document.querySelector('#agents tr[data-agent="$_[0]"]')} }

sub no_problems {
    my ($what) = @_;
    my @p = $Browser->problems;
    Test::More::is(scalar @p, 0, "$what: no CSP violation, console error or exception")
        or Test::More::diag(join "\n", @p);
}

# the gateway's own view of an agent
sub status_of {
    my ($id) = @_;
    return farm_agents('agents')->{$id} // {};
}


add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_health_check uri=/health interval=300ms timeout=1s fall=1 rise=1;
    }
    upstream many {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=many
                      resync=300ms;
    }
_EOC_

    my $admin = $block->admin_api && $main::HaveAdmin
        ? "    location /farm/admin/ {\n"
          . "        farm_admin token_file=\$TEST_NGINX_ADMIN_TOKEN_FILE;\n    }\n"
        : '';
    my $dash = $block->dashboard // 'status=/farm';
    chomp $dash;
    $block->set_value('config', <<_EOC_ . $admin) unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
    location = /farm/dashboard {
        farm_dashboard $dash;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: the page: HTML with a strict Content-Security-Policy, no sniffing, no caching, the status location named
--- request
GET /farm/dashboard
--- response_headers_like
Content-Type: text/html; charset=utf-8
Content-Security-Policy: ^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]{43}='; style-src 'sha256-[A-Za-z0-9+/]{43}='; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'$
X-Content-Type-Options: nosniff
X-Frame-Options: DENY
Cache-Control: no-store
--- response_body_like: \A<!DOCTYPE html>\n.*<meta name="farm-status" content="/farm">\n<title>.*</html>\n\z
--- response_body_unlike: farm-admin"|https?://
--- no_error_log
[error]



=== TEST 2: admin= and status= are escaped into the page; HEAD has no body; POST is 405
--- dashboard
status=/farm?upstream=agents&x="<y> admin=/farm/admin/
--- request eval
["GET /farm/dashboard", "HEAD /farm/dashboard", "POST /farm/dashboard\nx"]
--- error_code eval
[200, 200, 405]
--- response_body_like eval
[qr{<meta name="farm-status" content="/farm\?upstream=agents&amp;x=&quot;&lt;y&gt;">\n<meta name="farm-admin" content="/farm/admin/">\n},
 qr/^$/, qr/405 Not Allowed/]
--- no_error_log
[error]



=== TEST 3: a URL of another origin is refused: the page may only talk to its own
--- dashboard
status=http://elsewhere.example/farm
--- request
GET /farm/dashboard
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_dashboard: status= must be a path on this server starting with a single "\/", not "http:\/\/elsewhere\.example\/farm" \(the page may only talk to its own origin\) in \S+nginx\.conf:\d+/



=== TEST 4: protocol-relative admin= is refused too; so is an unknown parameter
--- dashboard
admin=//elsewhere.example/admin/
--- request
GET /farm/dashboard
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_dashboard: admin= must be a path on this server starting with a single "\/", not "\/\/elsewhere\.example\/admin\/"/



=== TEST 5: unknown parameter
--- dashboard
status=/farm interval=1s
--- request
GET /farm/dashboard
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_dashboard: invalid parameter "interval=1s" \(takes status=URI and admin=URI\)/



=== TEST 6: in Chromium: loads with no CSP violation and no console error; a hostile meta value is text; no actions without admin=
--- init
main::agents(a => { ttl => '60s', region => 'eu-west', cap => 'gpu,cpu' },
             evil => { ttl => '60s', extra => ['--meta', "note=$main::Hostile"] });
FarmTest::wait_until(sub { main::status_of('evil')->{state} eq 'up'
                           && main::status_of('a')->{state} eq 'up' },
                     15, 'both agents up');
main::open_page();
my $b = $main::Browser;
$b->wait_js(main::row('evil') . ' && ' . main::row('a'), 20, 'the rows of a and evil');
main::no_problems('the page loaded');
Test::More::is($b->eval_js(main::row('evil') . '.querySelector("td.meta").textContent'),
               "note=$main::Hostile", 'the hostile meta value is shown as the text it is');
Test::More::is($b->eval_js('document.querySelectorAll("img, b").length'), 0,
               'and made no element');
Test::More::is($b->eval_js('document.title'), 'ngx_farm', 'and ran no code');
Test::More::is($b->eval_js(main::row('a') . '.querySelector("td.region").textContent + "|"'
                           . ' + ' . main::row('a') . '.querySelector("td.caps").textContent'),
               'eu-west|gpu, cpu', 'region and capabilities shown');
Test::More::is($b->eval_js(main::row('a') . '.dataset.look'), 'ok', 'a is green (up)');
Test::More::ok($b->eval_js('document.getElementById("admin").hidden'
                           . ' && !document.querySelector("#agents td.act:not([hidden])")'),
               'no admin panel and no action button without admin=');
Test::More::like($b->eval_js('document.getElementById("cards").textContent'),
                 qr/agents\s*2\s*2 available|workers\s*2\s*2 online/,
                 'the summary counts both agents');
# the detector sees a violation when there is one (positive control)
my $seen = $b->eval_js('+(document.documentElement.dataset.cspViolations || 0)');
$b->eval_js('var i = document.createElement("img"); i.src = "/x.png";'
            . ' document.body.appendChild(i); 1');
$b->wait_js("+document.documentElement.dataset.cspViolations > $seen", 10,
            'the page to see the CSP block an image');
my @p = $b->problems;
Test::More::ok((grep { /Content Security Policy|ContentSecurityPolicy/ } @p),
               'control: an image the CSP blocks is reported') or Test::More::diag(join "\n", @p);
--- request
GET /farm
--- response_body_like: "id":"evil"
--- no_error_log
[error]



=== TEST 7: in Chromium: a killed agent turns red within two polls of the gateway seeing it down; "not up" lists it alone
--- init
main::agents(a => { ttl => '60s' }, b => { ttl => '60s' });
FarmTest::wait_until(sub { main::status_of('a')->{state} eq 'up'
                           && main::status_of('b')->{state} eq 'up' },
                     15, 'both agents up');
main::open_page('#interval=500');
my $b = $main::Browser;
$b->wait_js(main::row('b') . ' && ' . main::row('b') . '.dataset.look === "ok"', 20, 'b green');
FarmTest::kill_agent($main::Agent{b});
delete $main::Agent{b};
FarmTest::wait_until(sub { main::status_of('b')->{state} eq 'down' }, 20,
                     'the gateway to see b down');
my $seen = $b->eval_js('+document.documentElement.dataset.renders');
$b->wait_js("+document.documentElement.dataset.renders >= $seen + 2", 30, 'two more polls');
Test::More::is($b->eval_js(main::row('b') . '.dataset.look'), 'bad', 'b is red');
Test::More::is($b->eval_js(main::row('b') . '.querySelector("td.st").textContent'), 'down',
               'its state says down');
Test::More::is($b->eval_js(main::row('a') . '.dataset.look'), 'ok', 'a is still green');
$b->eval_js('var s = document.getElementById("state"); s.value = "problems";'
            . ' s.dispatchEvent(new Event("change")); 1');
$b->wait_js('document.querySelectorAll("#agents tbody tr").length === 1 && ' . main::row('b'),
            20, 'the "not up" filter to list b alone');
Test::More::like($b->eval_js('location.hash'), qr/state=problems/, 'the filter is in the URL');
main::no_problems('while b died');
FarmTest::deregister($main::Redis, 'b');    # its record outlived it
--- request
GET /farm
--- response_body_like: "id":"a".*"state":"up"
--- no_error_log
[error]



=== TEST 8: in Chromium: 300 agents in a pool are paged 100 at a time and found by text
--- init
main::agents(a => { ttl => '60s' });
for my $i (0 .. 299) {
    FarmTest::put_record($main::Redis, service => 'many', id => sprintf('m-%03d', $i),
                         port => 9, region => $i % 2 ? 'odd' : 'even');
}
FarmTest::wait_until(sub { keys %{ FarmTest::farm_agents('many') } == 300 }, 20,
                     'the gateway to know the 300 agents');
main::open_page('#interval=500&pool=many');
my $b = $main::Browser;
my $rows = 'document.querySelectorAll("#agents tbody tr").length';
my $range = 'document.getElementById("range").textContent';
$b->wait_js("$rows === 100", 20, 'the first page of 100');
Test::More::is($b->eval_js($range), "1\x{2013}100 of 300", 'the range says 1-100 of 300');
$b->eval_js('document.getElementById("next").click(); 1');
$b->wait_js(qq{$range === "101\x{2013}200 of 300"}, 20, 'the second page');
$b->wait_js(main::row('m-150'), 20, 'agent m-150 on the second page');
$b->eval_js('var q = document.getElementById("q"); q.value = "m-042";'
            . ' q.dispatchEvent(new Event("input")); 1');
$b->wait_js("$rows === 1 && " . main::row('m-042'), 20, 'the search to find m-042 alone');
main::no_problems('paging and searching');
for my $i (0 .. 299) {
    FarmTest::deregister($main::Redis, sprintf('m-%03d', $i), 'many');
}
--- request
GET /farm
--- response_body_like: "upstream":"many".*"agents":\[\]
--- no_error_log
[error]



=== TEST 9: in Chromium: with admin=, a drain from the page makes the agent draining; the token stays in sessionStorage
--- admin_api: 1
--- dashboard
status=/farm admin=/farm/admin/
--- init
SKIP: {
Test::More::skip('farm_admin is not in this build (the admin API of issue 12,'
                 . ' branch "admin", is not merged yet)', 8) unless $main::HaveAdmin;
main::agents(a => { ttl => '60s' }, b => { ttl => '60s' });
FarmTest::wait_until(sub { main::status_of('b')->{state} eq 'up' }, 15, 'b up');
main::open_page('#interval=500');
my $b = $main::Browser;
$b->wait_js(main::row('b'), 20, 'the row of b');
Test::More::ok($b->eval_js('!document.getElementById("admin").hidden'), 'the admin panel is shown');
Test::More::ok($b->eval_js(main::row('b') . '.querySelector("button[data-action=draining]").disabled'),
               'actions are off until a token is given');
# a wrong token: the page says so and nothing changes
$b->eval_js('document.getElementById("token").value = "wrong";'
            . ' document.getElementById("usetoken").click(); 1');
$b->wait_js('!' . main::row('b') . '.querySelector("button[data-action=draining]").disabled',
            10, 'the buttons to turn on');
$b->eval_js(main::row('b') . '.querySelector("button[data-action=draining]").click(); 1');
$b->wait_js('/token was refused/.test(document.getElementById("adminmsg").textContent)',
            20, 'the page to report the refused token');
Test::More::is(main::status_of('b')->{mode} // 'active', 'active', 'b is still active');
$b->forget;    # the 401 is logged by the browser as a failed load
# the right one
$b->eval_js("document.getElementById('token').value = '$main::Token';"
            . ' document.getElementById("usetoken").click(); 1');
$b->eval_js(main::row('b') . '.querySelector("button[data-action=draining]").click(); 1');
$b->wait_js(main::row('b') . '.dataset.mode === "draining"', 20, 'b to show draining');
Test::More::is($b->eval_js(main::row('b') . '.dataset.look'), 'drain', 'b is blue (draining)');
Test::More::is(main::status_of('b')->{mode}, 'draining', 'the gateway has b draining');
Test::More::is($b->eval_js('localStorage.length + "|" + sessionStorage.getItem("ngx_farm_admin_token")'),
               "0|$main::Token", 'the token is in sessionStorage only');
$b->eval_js(main::row('b') . '.querySelector("button[data-action=active]").click(); 1');
$b->wait_js(main::row('b') . '.dataset.mode === "active"', 20, 'b active again');
Test::More::is(main::status_of('b')->{mode}, 'active', 'the gateway has b active again');
main::no_problems('draining from the page');
}
--- request
GET /farm
--- response_body_like: "upstream":"agents"
--- no_error_log
[error]
