#!/usr/bin/perl

# The sources as nginx builds them: every file that includes an nginx
# header includes <ngx_config.h> and <ngx_core.h> before anything else
# (else nginx's feature macros come after the system headers, and the
# module does not compile against nginx 1.30 and later), and no line of
# C is wider than 80 columns.

use strict;
use warnings;

use FindBin qw($Bin);
use Test::More;

my $root = "$Bin/..";
my @files = sort(glob("$root/ngx_http_tier_router_module/*/*.[ch]"),
                 glob("$root/tools/*.c"), glob("$root/fuzz/*.c"),
                 glob("$root/t/unit/*.[ch]"));

ok(@files > 20, scalar(@files) . ' C files');

my $nginx_side = 0;

for my $f (@files) {
    open my $fh, '<', $f or die "$f: $!";
    my @lines = <$fh>;
    close $fh;

    (my $name = $f) =~ s{^\Q$root\E/}{};

    my @inc = map { /^#include\s+([<"][^>"]+[>"])/ ? $1 : () } @lines;
    my @wide = grep { length($lines[$_] =~ s/\n\z//r) > 80 } 0 .. $#lines;

    is(scalar @wide, 0, "$name: 80 columns")
        or diag("wider: line " . join(', ', map { $_ + 1 } @wide));

    # nginx-side: includes nginx or the module's nginx-side header

    next unless grep { /^<ngx_/ || /"ngx_http_tier_router_(module|budget)\.h"/ }
                @inc;
    $nginx_side++;
    is("@inc[0, 1]", '<ngx_config.h> <ngx_core.h>',
       "$name: ngx_config.h and ngx_core.h first");
}

ok($nginx_side >= 10, "$nginx_side nginx-side files checked");

done_testing;
