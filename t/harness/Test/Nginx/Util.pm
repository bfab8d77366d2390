package Test::Nginx::Util;

# Shim so that `use Test::Nginx::Util;` works with our harness as well: the
# package itself is defined in Test/Nginx/Socket.pm (as part of the subset of
# CPAN's Test::Nginx that the ngx_farm tests use).

use strict;
use warnings;

require Test::Nginx::Socket;

1;
