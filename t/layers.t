#!/usr/bin/perl

# The two layers (docs/architecture.md): nothing under core/ includes an
# nginx header or calls nginx or the glue, and the glue's files call each
# other without a cycle, each glue file declaring what it exports in its
# own header.  scripts/check-layers.pl reads the objects of the module's
# build (make all); a planted cycle, a planted include and planted
# headers show that it can fail.

use strict;
use warnings;

use FindBin qw($Bin);
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Copy qw(copy);
use Test::More;

my $root = "$Bin/..";
my $check = "$root/scripts/check-layers.pl";
my $objs = "$root/build/nginx/objs/addon";

plan skip_all => "no module objects in $objs (make all)"
    unless -d "$objs/ngx";

my $out = `perl $check $objs 2>&1`;
is($? >> 8, 0, 'the layers hold') or diag($out);
like($out, qr/^layers: ok$/m, 'and the check says so');

# the check fails on a cycle: two objects that call each other

SKIP: {
    my $cc = $ENV{CC} // 'cc';
    skip "no C compiler", 4 if system("$cc --version >/dev/null 2>&1");

    my $dir = tempdir(CLEANUP => 1);
    make_path("$dir/ngx", "$dir/core");

    write_c("$dir/a.c", "void ngx_b(void); void ngx_a(void) { ngx_b(); }");
    write_c("$dir/b.c", "void ngx_a(void); void ngx_b(void) { ngx_a(); }");
    write_c("$dir/c.c", "void ngx_a(void); int tr_c(void) "
                        . "{ ngx_a(); return 0; }");

    system("$cc -c -o $dir/ngx/a.o $dir/a.c") == 0 or die;
    system("$cc -c -o $dir/ngx/b.o $dir/b.c") == 0 or die;
    system("$cc -c -o $dir/core/c.o $dir/c.c") == 0 or die;

    write_c("$dir/core/c.c", "#include <ngx_config.h>");

    my $bad = `TIER_ROUTER_CORE=$dir/core perl $check $dir 2>&1`;
    is($? >> 8, 1, 'a planted cycle fails the check');
    like($bad, qr{glue call cycle: ngx/a ngx/b}, 'and names the files');
    like($bad, qr{core calls nginx or the glue: core/c: ngx_a},
         'a core object calling the glue is found too');
    like($bad, qr{core includes nginx: c\.c: ngx_config\.h},
         'and a core file including nginx');
}

# the check fails on headers: a file without its own, one that includes
# another first, a function declared in the wrong header, the types
# header declaring a function

SKIP: {
    my $cc = $ENV{CC} // 'cc';
    skip "no C compiler", 6 if system("$cc --version >/dev/null 2>&1");

    my $dir = tempdir(CLEANUP => 1);
    make_path("$dir/objs/ngx", "$dir/src");

    write_c("$dir/src/x.c", "#include \"other.h\"\n#include \"x.h\"\n"
                            . "int ngx_http_tier_router_x(void) "
                            . "{ return 0; }");
    write_c("$dir/src/x.h", "int ngx_http_tier_router_y(void);");
    write_c("$dir/src/other.h", "int ngx_http_tier_router_x(void);");
    write_c("$dir/src/y.c", "int ngx_http_tier_router_y(void) "
                            . "{ return 1; }");
    write_c("$dir/src/ngx_http_tier_router_types.h",
            "#define ngx_http_tier_router_ok(a)  (a)\n"
            . "void ngx_http_tier_router_f(void);");

    for my $f (qw(x y)) {
        system("$cc -I$dir/src -c -o $dir/objs/ngx/$f.o $dir/src/$f.c") == 0
            or die;
    }

    my $bad = `TIER_ROUTER_NGX=$dir/src perl $check $dir/objs 2>&1`;
    is($? >> 8, 1, 'planted headers fail the check');
    like($bad, qr{^glue file does not include its header first: x\.c$}m,
         'a file including another header first');
    like($bad, line("not declared in its file's header: x.c: "
                    . 'ngx_http_tier_router_x'),
         'a function its own header does not declare');
    like($bad, line("declared in another file's header: other.h: "
                    . 'ngx_http_tier_router_x'),
         'and the header that does');
    like($bad, qr{^glue file without its header: y\.c$}m,
         'a file without a header');
    like($bad, line('types header declares a function: '
                    . 'ngx_http_tier_router_types.h: ngx_http_tier_router_f'),
         'the types header declaring a function, not a macro');
}

done_testing;

sub line {
    my ($text) = @_;
    return qr/^\Q$text\E$/m;
}

sub write_c {
    my ($f, $text) = @_;
    open my $fh, '>', $f or die "$f: $!";
    print $fh "$text\n";
    close $fh;
}
