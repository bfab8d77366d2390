# farm_kong: a service's tls_verify, tls_verify_depth and ca_certificates
# (Kong 3.x).  The https service is a server of the test's own nginx whose
# certificate is made here with openssl: a root CA signs an intermediate CA
# that signs the server's certificate (for 127.0.0.1), and the server sends
# the intermediate with it.  tls_verify true verifies it against the
# service's ca_certificates (else the system CAs, which do not know this
# root): Kong's 502 and nginx's log line when it does not verify, 200 when
# it does.  tls_verify_depth 0 refuses the intermediate.  A service that
# sets none of them keeps the location's settings (proxy_ssl_verify off).

use Test::Nginx::Socket 'no_plan';
use FarmTest;
use FarmKong;
use File::Temp ();

our $Dir = File::Temp::tempdir('kong-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $T = free_port();

sub openssl {
    my (@args) = @_;
    system('openssl', @args) == 0
        or die "openssl @args: exit " . ($? >> 8) . "\n";
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!\n";
    local $/;
    return scalar <$fh>;
}

# a CA: key and self-signed certificate
sub ca {
    my ($name) = @_;
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
            '-keyout', "$Dir/$name.key", '-out', "$Dir/$name.crt",
            '-subj', "/CN=ngx_farm test $name", '-addext',
            'basicConstraints=critical,CA:TRUE', '-addext',
            'keyUsage=critical,keyCertSign,cRLSign');
}

# a certificate for $name signed by the CA $by, with the extensions $ext
sub signed {
    my ($name, $by, $subj, $ext) = @_;
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$Dir/$name.key",
            '-out', "$Dir/$name.csr", '-subj', $subj);
    open my $fh, '>', "$Dir/$name.ext" or die "$Dir/$name.ext: $!\n";
    print {$fh} $ext;
    close $fh;
    openssl('x509', '-req', '-in', "$Dir/$name.csr", '-CA', "$Dir/$by.crt",
            '-CAkey', "$Dir/$by.key", '-CAcreateserial', '-days', '30',
            '-out', "$Dir/$name.crt", '-extfile', "$Dir/$name.ext");
}

{
    local *STDERR;
    open STDERR, '>', "$Dir/openssl.log";
    ca('root');
    ca('other');
    signed('inter', 'root', '/CN=ngx_farm test intermediate',
           "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
    signed('server', 'inter', '/CN=127.0.0.1',
           "basicConstraints=CA:FALSE\nsubjectAltName=DNS:127.0.0.1,IP:127.0.0.1\n");
}

open my $chain, '>', "$Dir/chain.crt" or die "$Dir/chain.crt: $!\n";
print {$chain} slurp("$Dir/server.crt"), slurp("$Dir/inter.crt");
close $chain;

our $Root = yaml_block(slurp("$Dir/root.crt"), 4);
our $Other = yaml_block(slurp("$Dir/other.crt"), 4);
our $Leaf = yaml_block(slurp("$Dir/server.crt"), 4);

our $RootId = '0c0c0c0c-0000-4000-8000-000000000001';
our $OtherId = '0c0c0c0c-0000-4000-8000-000000000002';

# the kong.yml of a block: both CAs (unless $no_cas), and one https
# service with $fields
sub kong_yml {
    my ($fields, $no_cas) = @_;
    my $cas = $no_cas ? '' : <<_EOY_;
ca_certificates:
- id: $RootId
  cert: $Root
- id: $OtherId
  cert: $Other
_EOY_
    return <<_EOY_;
_format_version: "3.0"
${cas}services:
- name: s
  url: https://127.0.0.1:$T
  retries: 0
$fields  routes:
  - paths: [/tls]
_EOY_
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    server {
        listen 127.0.0.1:$T ssl;
        ssl_certificate $Dir/chain.crt;
        ssl_certificate_key $Dir/server.key;
        location / {
            return 200 "tls ok\\n";
        }
    }
_EOC_
});

kong_server();
master_on();
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: tls_verify true without ca_certificates: the system CAs do not know the root, Kong's 502 and nginx's verify error
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n", 1)
--- request
GET /tls
--- error_code: 502
--- response_body_like: ^An invalid response was received from the upstream server\nrequest_id: [0-9a-f]{32}\n$
--- error_log
upstream SSL certificate verify error



=== TEST 2: tls_verify true with ca_certificates naming the root: verified through the intermediate, 200
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n  ca_certificates: [$main::RootId]\n")
--- request
GET /tls
--- error_code: 200
--- response_body
tls ok
--- no_error_log
[error]



=== TEST 3: tls_verify true with ca_certificates naming another CA: 502
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n  ca_certificates: [$main::OtherId]\n")
--- request
GET /tls
--- error_code: 502
--- error_log
upstream SSL certificate verify error



=== TEST 4: tls_verify_depth 0 refuses the intermediate: 502
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n  tls_verify_depth: 0\n  ca_certificates: [$main::RootId]\n")
--- request
GET /tls
--- error_code: 502
--- error_log
upstream SSL certificate verify error



=== TEST 5: tls_verify_depth 1 accepts the one intermediate
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n  tls_verify_depth: 1\n  ca_certificates: [$main::RootId]\n")
--- request
GET /tls
--- error_code: 200
--- response_body
tls ok
--- no_error_log
[error]



=== TEST 6: neither tls_verify nor ca_certificates: the location's settings (proxy_ssl_verify off), 200; tls_verify false is the same (Kong applies only true)
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: false\n")
--- request
GET /tls
--- error_code: 200
--- response_body
tls ok
--- no_error_log
[error]



=== TEST 7: a ca_certificates entry that is not a CA fails nginx -t with Kong's message and its position
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n") =~ s/cert: \Q$main::Other\E/cert: $main::Leaf/r
--- request
GET /tls
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_kong: \S*kong\.yml:\d+:\d+: ca_certificates\[1\]\.cert: certificate does not appear to be a CA because it is missing the "CA" basic constraint/



=== TEST 8: a service naming a ca_certificates id that is not in the file fails nginx -t
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n  ca_certificates: [0c0c0c0c-0000-4000-8000-00000000ffff]\n")
--- request
GET /tls
--- must_die
--- error_log eval
qr/\[emerg\] .*farm_kong: \S*kong\.yml:\d+:\d+: services\[0\]\.ca_certificates: invalid reference 'ca_certificates: 0c0c0c0c-0000-4000-8000-00000000ffff' \(no such entry in 'ca_certificates'\)/



=== TEST 9: a service whose host names an nginx upstream {} block: tls_verify is not applied there, and nginx -t says so with the service's position
--- http_config eval
"    server {
        listen 127.0.0.1:$main::T ssl;
        ssl_certificate $main::Dir/chain.crt;
        ssl_certificate_key $main::Dir/server.key;
        location / {
            return 200 \"tls ok\\n\";
        }
    }

    upstream tlsfarm {
        server 127.0.0.1:$main::T;
    }
"
--- user_files eval
">>> kong.yml\n" . main::kong_yml("  tls_verify: true\n") =~ s{url: https://127\.0\.0\.1:\d+}{url: https://tlsfarm}r
--- request
GET /tls
--- error_code: 200
--- response_body
tls ok
--- error_log eval
qr/\[warn\] .*farm_kong: \S*kong\.yml:\d+:\d+: service "s": tls_verify, tls_verify_depth and ca_certificates are not applied to the nginx upstream "tlsfarm": the location's proxy_ssl_\* settings are/
--- no_error_log
[error]
