#!/usr/bin/env perl
# scripts/check-layers.pl -- the module's layering, checked (make check-layers).
#
# Every source and header of ngx_farm_module/ and registry/ has a layer in
# the table below (docs/design.md, "Layers").  A file may include headers of
# its own layer or of the layers below, never of a layer above; the
# rate-limit and key-auth family (farm_limit, farm_key_auth) may include
# only layers 0 and 1 of the balancer; the farm_kong family may also
# include the rate-limit and key-auth family (Kong's rate-limiting and
# key-auth plugins run on farm_limit's zone and farm_key_auth's key table,
# one implementation of each, issue 11); layer 0 is free of nginx; and the
# includes between the module's files have no cycle.  A file missing from
# the table is an error too, so a new file gets its layer when it is added.
#
# A layer is "N" or "N.M": M orders the files within layer N (a .M file may
# include the .M-1 headers of its layer, not the other way round).
#
#   scripts/check-layers.pl [DIR]    DIR: the repository (default: ..)
#
# Prints one line per violation naming the file, the include and both
# layers; exits 1 if there is any, 0 otherwise.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);

my $top = abs_path($ARGV[0] // dirname(abs_path($0)) . '/..');

# file => [layer, family]; family "farm" (the balancer), "limit" (the
# rate-limit and key-auth modules), or "pure" (layer 0, shared)
my %layer = (

    # 0  pure code: no nginx
    'ngx_http_farm_pick.h'             => ['0', 'pure'],
    'ngx_http_farm_pick.c'             => ['0', 'pure'],
    'ngx_http_farm_limit_window.h'     => ['0', 'pure'],
    'ngx_http_farm_limit_window.c'     => ['0', 'pure'],
    'ngx_http_farm_consumers.h'        => ['0', 'pure'],
    'ngx_http_farm_consumers.c'        => ['0', 'pure'],
    'ngx_http_farm_check_parse.h'      => ['0', 'pure'],
    'ngx_http_farm_check_parse.c'      => ['0', 'pure'],
    'ngx_http_farm_hide_args.h'        => ['0', 'pure'],
    'ngx_http_farm_hide_args.c'        => ['0', 'pure'],
    'ngx_http_farm_consumers_reply.h'  => ['0', 'pure'],
    'ngx_http_farm_consumers_reply.c'  => ['0', 'pure'],
    'registry/*'                       => ['0', 'pure'],

    # 1  nginx utilities
    'ngx_http_farm_util.h'             => ['1', 'pure'],
    'ngx_http_farm_util.c'             => ['1', 'pure'],
    'ngx_http_farm_counters.h'         => ['1', 'pure'],
    'ngx_http_farm_counters.c'         => ['1', 'pure'],
    'ngx_http_farm_hiredis.c'          => ['1', 'pure'],
    'ngx_http_farm_ssl_session.h'      => ['1', 'pure'],
    'ngx_http_farm_ssl_session.c'      => ['1', 'pure'],
    'ngx_http_farm_rconn.h'            => ['1', 'pure'],
    'ngx_http_farm_rconn.c'            => ['1', 'pure'],

    # 2  the zone model: configuration, shared memory, subsets
    'ngx_http_farm_conf.h'             => ['2', 'farm'],
    'ngx_http_farm_stats.h'            => ['2', 'farm'],
    'ngx_http_farm_zone.h'             => ['2.1', 'farm'],
    'ngx_http_farm_subset.h'           => ['2.2', 'farm'],
    'ngx_http_farm_zone.c'             => ['2.2', 'farm'],
    'ngx_http_farm_zone_owner.c'       => ['2.2', 'farm'],
    'ngx_http_farm_subset.c'           => ['2.2', 'farm'],
    'ngx_http_farm_lists.h'            => ['2.2', 'farm'],
    'ngx_http_farm_lists.c'            => ['2.2', 'farm'],
    'ngx_http_farm_override.c'         => ['2.2', 'farm'],
    'ngx_http_farm_lease.h'            => ['2.3', 'farm'],
    'ngx_http_farm_lease.c'            => ['2.3', 'farm'],

    # 3  selection
    'ngx_http_farm_request.h'          => ['3', 'farm'],
    'ngx_http_farm_route.h'            => ['3.1', 'farm'],
    'ngx_http_farm_route.c'            => ['3.1', 'farm'],

    # 4  admission state, then the per-agent state machines
    'ngx_http_farm_queue.h'            => ['4', 'farm'],
    'ngx_http_farm_queue.c'            => ['4', 'farm'],
    'ngx_http_farm_queue_wait.c'       => ['4', 'farm'],
    'ngx_http_farm_queue_conf.c'       => ['4', 'farm'],
    'ngx_http_farm_client.h'           => ['4', 'farm'],
    'ngx_http_farm_client.c'           => ['4', 'farm'],
    'ngx_http_farm_health.h'           => ['4.1', 'farm'],
    'ngx_http_farm_health.c'           => ['4.1', 'farm'],
    'ngx_http_farm_health_int.h'       => ['4.1', 'farm'],
    'ngx_http_farm_health_conf.c'      => ['4.1', 'farm'],
    'ngx_http_farm_check.c'            => ['4.1', 'farm'],
    'ngx_http_farm_breaker.h'          => ['4.1', 'farm'],
    'ngx_http_farm_breaker.c'          => ['4.1', 'farm'],

    # 5  registry: the state file, sync, the backends
    'ngx_http_farm_state.h'            => ['5', 'farm'],
    'ngx_http_farm_state.c'            => ['5', 'farm'],
    'ngx_http_farm_sync.h'             => ['5.1', 'farm'],
    'ngx_http_farm_sync.c'             => ['5.1', 'farm'],
    'ngx_http_farm_override_sync.h'    => ['5.1', 'farm'],
    'ngx_http_farm_override_sync.c'    => ['5.1', 'farm'],
    'ngx_http_farm_redis.h'            => ['5.2', 'farm'],
    'ngx_http_farm_redis_conn.h'       => ['5.2', 'farm'],
    'ngx_http_farm_redis.c'            => ['5.2', 'farm'],
    'ngx_http_farm_redis_full_sync.c'  => ['5.2', 'farm'],
    'ngx_http_farm_redis_warm.c'       => ['5.2', 'farm'],
    'ngx_http_farm_consul.h'           => ['5.2', 'farm'],
    'ngx_http_farm_consul.c'           => ['5.2', 'farm'],
    'ngx_http_farm_consul_warm.c'      => ['5.2', 'farm'],
    'ngx_http_farm_consul_answer.c'    => ['5.2', 'farm'],
    'ngx_http_farm_consul_kv.c'        => ['5.2', 'farm'],
    'ngx_http_farm_builtin.h'          => ['5.2', 'farm'],
    'ngx_http_farm_builtin.c'          => ['5.2', 'farm'],
    'ngx_http_farm_builtin_conf.c'     => ['5.2', 'farm'],

    # 6  the request path
    'ngx_http_farm_balancer.h'         => ['6', 'farm'],
    'ngx_http_farm_balancer.c'         => ['6', 'farm'],
    'ngx_http_farm_reject.h'           => ['6', 'farm'],
    'ngx_http_farm_reject.c'           => ['6', 'farm'],
    'ngx_http_farm_admit.h'            => ['6.1', 'farm'],
    'ngx_http_farm_admit.c'            => ['6.1', 'farm'],

    # 7  module glue
    'ngx_http_farm_module.h'           => ['7', 'farm'],
    'ngx_http_farm_module.c'           => ['7', 'farm'],
    'ngx_http_farm_registry_conf.c'    => ['7', 'farm'],
    'ngx_http_farm_status.h'           => ['7', 'farm'],
    'ngx_http_farm_status.c'           => ['7', 'farm'],
    'ngx_http_farm_admin.h'            => ['7', 'farm'],
    'ngx_http_farm_admin.c'            => ['7', 'farm'],
    'ngx_http_farm_admin_write.c'      => ['7', 'farm'],
    'ngx_http_farm_admin_consul.c'     => ['7', 'farm'],
    'ngx_http_farm_logvar.c'           => ['7', 'farm'],
    'ngx_http_farm_registry_api.c'     => ['7', 'farm'],
    'ngx_http_farm_metrics.h'          => ['7', 'farm'],
    'ngx_http_farm_metrics.c'          => ['7', 'farm'],
    'ngx_http_farm_metrics_families.c' => ['7', 'farm'],
    'ngx_http_farm_dashboard.c'        => ['7', 'farm'],

    # farm_kong: kong-compat/'s nginx glue, its own family
    'ngx_http_farm_kong.h'             => ['6', 'kong'],
    'ngx_http_farm_kong_proxy.c'       => ['6', 'kong'],
    'ngx_http_farm_kong_answer.c'      => ['6', 'kong'],
    'ngx_http_farm_kong_balancer.c'    => ['6', 'kong'],
    'ngx_http_farm_kong_cookie.c'      => ['6', 'kong'],
    'ngx_http_farm_kong_keepalive.c'   => ['6', 'kong'],
    'ngx_http_farm_kong_buffering.c'   => ['6', 'kong'],
    'ngx_http_farm_kong_forwarded.c'   => ['6', 'kong'],
    'ngx_http_farm_kong_tls.c'         => ['6', 'kong'],
    'ngx_http_farm_kong_health.c'      => ['6', 'kong'],
    'ngx_http_farm_kong_check.c'       => ['6', 'kong'],
    'ngx_http_farm_kong_check_name.c'  => ['6', 'kong'],
    'ngx_http_farm_kong_check_grpc.c'  => ['6', 'kong'],
    'ngx_http_farm_kong_health_addr.c' => ['6', 'kong'],
    'ngx_http_farm_kong_plugins.c'     => ['6', 'kong'],
    'ngx_http_farm_kong_auth.c'        => ['6', 'kong'],
    'ngx_http_farm_kong_rl_redis.c'    => ['6', 'kong'],
    'ngx_http_farm_kong_rl_sync.c'     => ['6', 'kong'],
    'ngx_http_farm_kong_body.c'        => ['6', 'kong'],
    'ngx_http_farm_kong_jwt.c'         => ['6', 'kong'],
    'ngx_http_farm_kong_corrid.c'      => ['6', 'kong'],
    'ngx_http_farm_kong_engine.h'      => ['6', 'kong'],
    'ngx_http_farm_kong_engine.c'      => ['6', 'kong'],
    'ngx_http_farm_kong_cors.c'        => ['6', 'kong'],
    'ngx_http_farm_kong_xform.c'       => ['6', 'kong'],
    'ngx_http_farm_kong_echo.c'        => ['6', 'kong'],
    'ngx_http_farm_kong_resp.c'        => ['6', 'kong'],
    'ngx_http_farm_kong_prom.h'        => ['6', 'kong'],
    'ngx_http_farm_kong_prom.c'        => ['6', 'kong'],
    'ngx_http_farm_kong_prom_out.c'    => ['6', 'kong'],
    'ngx_http_farm_kong.c'             => ['7', 'kong'],

    # the rate-limit and key-auth modules: layers 0 and 1 only below them
    'ngx_http_farm_limit.h'            => ['2', 'limit'],
    'ngx_http_farm_limit.c'            => ['2', 'limit'],
    'ngx_http_farm_limit_conf.c'       => ['2', 'limit'],
    'ngx_http_farm_limit_zone.c'       => ['2', 'limit'],
    'ngx_http_farm_limit_redis.c'      => ['2', 'limit'],
    'ngx_http_farm_key_auth.c'         => ['2', 'limit'],
    'ngx_http_farm_key_table.c'        => ['2', 'limit'],
    'ngx_http_farm_consumers_redis.c'  => ['2', 'limit'],
    'ngx_http_farm_consumers_shm.h'    => ['2', 'limit'],
    'ngx_http_farm_consumers_shm.c'    => ['2', 'limit'],
    'ngx_http_farm_consumers_job.h'    => ['2', 'limit'],
    'ngx_http_farm_consumers_job.c'    => ['2', 'limit'],
);

my @errors;
my %files;      # name as shown => path
my %includes;   # name => [included names]

for my $dir ('ngx_farm_module', 'registry') {
    opendir(my $dh, "$top/$dir") or die "check-layers: $top/$dir: $!\n";

    for my $f (sort grep { /\.[ch]\z/ } readdir $dh) {
        my $name = $dir eq 'registry' ? "registry/$f" : $f;
        $files{$name} = "$top/$dir/$f";
    }

    closedir $dh;
}

# a header by the name it is included as
my %by_base = map { basename($_) => $_ } keys %files;

sub layer_of {
    my ($name) = @_;
    return $layer{$name} if $layer{$name};
    return $layer{'registry/*'} if $name =~ m{\Aregistry/};
    return undef;
}

for my $name (sort keys %files) {
    my $mine = layer_of($name);

    if (!$mine) {
        push @errors, "$name: not in the layer table of scripts/check-layers.pl";
        next;
    }

    open(my $fh, '<', $files{$name}) or die "check-layers: $files{$name}: $!\n";

    my $in_comment = 0;

    while (my $line = <$fh>) {
        # includes inside comments do not count
        if ($in_comment) {
            next unless $line =~ s{\A.*?\*/}{};
            $in_comment = 0;
        }
        $line =~ s{/\*.*?\*/}{}g;
        if ($line =~ s{/\*.*\z}{}s) {
            $in_comment = 1;
        }

        next unless $line =~ /^\s*#\s*include\s*[<"]([^>"]+)[>"]/;
        my $inc = $1;

        if ($mine->[0] eq '0' && $inc =~ /\Angx_/ && !$by_base{$inc}) {
            push @errors, "$name (layer 0) includes <$inc>: layer 0 is free "
                          . "of nginx";
            next;
        }

        my $target = $by_base{basename($inc)} or next;   # a system header
        my $theirs = layer_of($target) or next;          # reported above

        push @{ $includes{$name} }, $target;

        if ($theirs->[0] > $mine->[0]) {
            push @errors, "$name (layer $mine->[0]) includes $inc "
                          . "(layer $theirs->[0]): a layer above its own";
        }

        if ($mine->[1] ne $theirs->[1] && $theirs->[1] ne 'pure'
            && !($mine->[1] eq 'kong' && $theirs->[1] eq 'limit'))
        {
            push @errors, "$name ($mine->[1] family, layer $mine->[0]) "
                          . "includes $inc ($theirs->[1] family, layer "
                          . "$theirs->[0]): only layers 0 and 1 are shared";
        }
    }

    close $fh;
}

# include cycles: depth-first search, each cycle reported once
my %state;      # 1: on the path, 2: done
my @path;
my %seen_cycle;

sub visit {
    my ($n) = @_;

    $state{$n} = 1;
    push @path, $n;

    for my $m (@{ $includes{$n} || [] }) {
        if (($state{$m} // 0) == 1) {
            my @cycle = (@path[(grep { $path[$_] eq $m } 0 .. $#path)[0] .. $#path], $m);
            my $key = join ' ', sort @cycle[0 .. $#cycle - 1];
            push @errors, 'include cycle: ' . join(' -> ', @cycle)
                unless $seen_cycle{$key}++;

        } elsif (!$state{$m}) {
            visit($m);
        }
    }

    pop @path;
    $state{$n} = 2;
}

visit($_) for grep { !$state{$_} } sort keys %files;

if (@errors) {
    print STDERR "check-layers: $_\n" for @errors;
    printf STDERR "check-layers: %d violation%s\n", scalar @errors,
        @errors == 1 ? '' : 's';
    exit 1;
}

printf "check-layers: %d files, every include goes down a layer or stays "
       . "in one, no cycle\n", scalar keys %files;
exit 0;
