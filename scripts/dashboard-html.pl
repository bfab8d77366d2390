#!/usr/bin/env perl
# scripts/dashboard-html.pl -- html/farm-dashboard.html as C, for the
# farm_dashboard handler (ngx_farm_module/ngx_http_farm_dashboard.c).
#
#   scripts/dashboard-html.pl IN.html OUT.h
#
# Run by the module's `config` at configure time (any nginx tree, static or
# dynamic build) and by scripts/build-module.sh before every build (make),
# so an edited page is in the next build.  Writes OUT.h only when its text
# changes, so that an unchanged page recompiles nothing.
#
# OUT.h defines:
#   ngx_http_farm_dashboard_head[], ngx_http_farm_dashboard_tail[]
#       the page before and after the line <!--farm_dashboard config-->,
#       where the handler puts the <meta> tags of the location's status=
#       and admin= URIs
#   NGX_HTTP_FARM_DASHBOARD_CSP
#       the Content-Security-Policy: nothing but the page's one inline
#       <script> and one inline <style> (by their SHA-256) and requests to
#       the page's own origin
#
# The page is checked on the way: exactly one <script> and one <style>,
# neither with attributes (a src= would load code from elsewhere), no
# http:// or https:// URL anywhere, no inline event handler (onclick=...),
# no style= attribute (the CSP would block both), and the marker once.

use strict;
use warnings;


my ($in, $out) = @ARGV;
die "usage: $0 IN.html OUT.h\n" unless defined $out;

open my $fh, '<:raw', $in or die "$0: $in: $!\n";
my $html = do { local $/; <$fh> };
close $fh;

my $marker = "<!--farm_dashboard config-->\n";

sub fail { die "$0: $in: @_\n" }

sub one_block {
    my ($tag) = @_;
    my @all = $html =~ /<$tag\b([^>]*)>(.*?)<\/$tag>/gs;
    fail("needs exactly one <$tag> block, found " . @all / 2) if @all != 2;
    fail("<$tag> must have no attributes") if $all[0] =~ /\S/;
    return $all[1];
}

my $script = one_block('script');
my $style = one_block('style');

fail('no carriage return allowed: the browser would hash other text')
    if $html =~ /\r/;
fail('no external URL allowed (http:// or https://)')
    if $html =~ m{https?://}i;

(my $markup = $html) =~ s{<(script|style)>.*?</\1>}{}gs;
fail('no inline event handler attribute allowed: the CSP blocks them')
    if $markup =~ /<[^>]*\son[a-z]+\s*=/i;
fail('no style= attribute allowed: the CSP blocks them')
    if $markup =~ /<[^>]*\sstyle\s*=/i;

my $n = () = $html =~ /\Q$marker\E/g;
fail("needs the line <!--farm_dashboard config--> exactly once") if $n != 1;
my ($head, $tail) = split /\Q$marker\E/, $html, 2;

# base64 of a byte string, padded
sub base64 {
    my ($bytes) = @_;
    my @digit = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '+', '/');
    my $b64 = '';
    for (my $i = 0; $i < length $bytes; $i += 3) {
        my $group = substr $bytes, $i, 3;
        my $n = length $group;
        my $bits = unpack 'N', $group . "\0" x (4 - $n);
        $b64 .= $digit[($bits >> (26 - 6 * $_)) & 63] for 0 .. $n;
        $b64 .= '=' x (3 - $n);
    }
    return $b64;
}

# SHA-256 of a byte string: Digest::SHA when perl has it (Debian's perl
# package); with perl-base alone (a fresh machine, where "make demo"
# installs no more) coreutils' sha256sum over a file beside OUT.h
sub sha256 {
    my ($bytes) = @_;
    return Digest::SHA::sha256($bytes) if eval { require Digest::SHA; 1 };
    my $tmp = "$out.sha256-$$";
    open my $t, '>:raw', $tmp or die "$0: $tmp: $!\n";
    print {$t} $bytes;
    close $t or die "$0: $tmp: $!\n";
    open my $sum, '-|', 'sha256sum', $tmp or die "$0: sha256sum: $!\n";
    my $line = <$sum> // '';
    close $sum;
    unlink $tmp;
    my ($hex) = $line =~ /^([0-9a-f]{64})\b/
        or die "$0: sha256sum gave no digest\n";
    return pack 'H*', $hex;
}

sub hash {
    return "'sha256-" . base64(sha256($_[0])) . "'";
}

my $csp = "default-src 'none'; script-src " . hash($script)
        . "; style-src " . hash($style) . "; connect-src 'self'; "
        . "img-src 'none'; base-uri 'none'; form-action 'none'; "
        . "frame-ancestors 'none'";

# a C string literal, one source line per line of the page
sub c_string {
    my ($text) = @_;
    my @lines = $text =~ /([^\n]*\n|[^\n]+)/g;
    return "    \"\"" unless @lines;
    my @c;
    for my $line (@lines) {
        my $s = '';
        for my $ch (split //, $line) {
            my $o = ord $ch;
            if ($ch eq "\n") {
                $s .= '\n';
            } elsif ($ch eq '"' || $ch eq '\\' || $ch eq '?') {
                $s .= sprintf '\\%03o', $o;
            } elsif ($o >= 0x20 && $o < 0x7f) {
                $s .= $ch;
            } else {
                $s .= sprintf '\\%03o', $o;
            }
        }
        push @c, "    \"$s\"";
    }
    return join "\n", @c;
}

my $text = "/* generated from html/farm-dashboard.html by "
    . "scripts/dashboard-html.pl: do not edit */\n\n"
    . "#ifndef _NGX_HTTP_FARM_DASHBOARD_HTML_H_INCLUDED_\n"
    . "#define _NGX_HTTP_FARM_DASHBOARD_HTML_H_INCLUDED_\n\n\n"
    . "#define NGX_HTTP_FARM_DASHBOARD_CSP                                  "
    . "         \\\n    \"$csp\"\n\n\n"
    . "static u_char  ngx_http_farm_dashboard_head[] =\n"
    . c_string($head) . ";\n\n\n"
    . "static u_char  ngx_http_farm_dashboard_tail[] =\n"
    . c_string($tail) . ";\n\n\n"
    . "#endif /* _NGX_HTTP_FARM_DASHBOARD_HTML_H_INCLUDED_ */\n";

if (open my $old, '<:raw', $out) {
    my $was = do { local $/; <$old> };
    close $old;
    exit 0 if defined $was && $was eq $text;
}

open my $o, '>:raw', "$out.tmp" or die "$0: $out.tmp: $!\n";
print {$o} $text or die "$0: $out.tmp: $!\n";
close $o or die "$0: $out.tmp: $!\n";
rename "$out.tmp", $out or die "$0: $out: $!\n";
