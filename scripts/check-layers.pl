#!/usr/bin/perl

# The module's two layers, checked on its sources and objects:
#   - nothing under core/ includes an nginx header or a glue header, and
#     no core object calls into nginx or the glue;
#   - the glue's files call each other without a cycle (file A calls a
#     function defined in file B, from the objects' symbols with nm);
#   - each glue file X.c has its own X.h, includes it before any other
#     header of the module, and every function or variable X.o exports is
#     declared there and in no other glue header; the types header
#     (ngx_http_tier_router_types.h) declares types only.
# Usage: scripts/check-layers.pl OBJDIR (the addon objects of an nginx
# build: build/nginx/objs/addon); TIER_ROUTER_CORE=DIR and
# TIER_ROUTER_NGX=DIR read the core's and the glue's sources from DIR.
# Prints each finding; exits 1 if any.

use strict;
use warnings;

use FindBin qw($Bin);

my $root = "$Bin/..";
my $objdir = shift // "$root/build/nginx/objs/addon";
my $bad = 0;

# core: includes

my $core = $ENV{TIER_ROUTER_CORE} // "$root/ngx_http_tier_router_module/core";

for my $f (sort glob "$core/*.[ch]") {
    open my $fh, '<', $f or die "$f: $!";

    while (<$fh>) {
        next unless /^\s*#\s*include\s+[<"]([^>"]+)[>"]/;
        my $h = $1;

        if ($h =~ /^ngx_/ || $h =~ /^nginx/) {
            (my $n = $f) =~ s{^.*/}{};
            print "core includes nginx: $n: $h\n";
            $bad++;
        }
    }
}

# the symbols each object defines and uses

my (%defines, %uses, %exports, $nobj);

for my $o (sort glob("$objdir/core/*.o"), glob("$objdir/ngx/*.o")) {
    (my $name = $o) =~ s{^.*/(core|ngx)/(\w+)\.o$}{$1/$2};
    $nobj++;

    open my $nm, '-|', 'nm', $o or die "nm $o: $!";

    while (<$nm>) {
        if (/^\s*U (\w+)$/) {
            $uses{$name}{$1} = 1;
        } elsif (/^[0-9a-f]+ ([TDBR]) (\w+)$/) {
            my ($kind, $sym) = ($1, $2);

            $defines{$sym} = $name if $kind eq 'T';
            push @{$exports{$name}}, $sym if $name =~ m{^ngx/};
        }
    }
}

die "no objects under $objdir\n" unless $nobj;

my %edges;

for my $from (sort keys %uses) {
    for my $sym (sort keys %{$uses{$from}}) {
        my $to = $defines{$sym};

        if ($from =~ m{^core/}) {
            if ($sym =~ /^ngx_/) {
                print "core calls nginx or the glue: $from: $sym\n";
                $bad++;
            }
            next;
        }

        next unless defined $to && $to ne $from && $to =~ m{^ngx/};
        $edges{$from}{$to}{$sym} = 1;
    }
}

# the glue's headers: one per file, declaring what the file exports

my $glue = $ENV{TIER_ROUTER_NGX} // "$root/ngx_http_tier_router_module/ngx";
my %decl;

for my $h (sort glob "$glue/*.h") {
    (my $n = $h) =~ s{^.*/}{};
    my $text = slurp($h);

    $text =~ s{/\*.*?\*/}{}gs;
    $text =~ s{^#\s*define(?:[^\n]*\\\n)*[^\n]*}{}gm;

    while ($text =~ /\b(ngx_http_tier_router_\w+)\s*(?:\(|\[|;)/g) {
        my $sym = $1;
        next if $sym =~ /_t$/;
        push @{$decl{$sym}}, $n;

        if ($n =~ /_types\.h$/) {
            print "types header declares a function: $n: $sym\n";
            $bad++;
        }
    }
}

for my $o (sort keys %exports) {
    (my $stem = $o) =~ s{^ngx/}{};
    my $c = "$glue/$stem.c";
    my $own = "$stem.h";

    next unless -f $c;

    if (!-f "$glue/$own") {
        print "glue file without its header: $stem.c\n";
        $bad++;
        next;
    }

    my ($first) = slurp($c) =~ /^#include "([^"]+)"/m;

    if (!defined $first || $first ne $own) {
        print "glue file does not include its header first: $stem.c\n";
        $bad++;
    }

    for my $sym (@{$exports{$o}}) {
        my @in = @{$decl{$sym} // []};

        if (!grep { $_ eq $own } @in) {
            print "not declared in its file's header: $stem.c: $sym\n";
            $bad++;
        }

        for my $h (grep { $_ ne $own } @in) {
            print "declared in another file's header: $h: $sym\n";
            $bad++;
        }
    }
}

# cycles among the glue's files: Tarjan's strongly connected components

my ($index, @stack, %on, %idx, %low, @sccs) = (0);

sub connect_ {
    my ($v) = @_;

    $idx{$v} = $low{$v} = $index++;
    push @stack, $v;
    $on{$v} = 1;

    for my $w (sort keys %{$edges{$v} // {}}) {
        if (!exists $idx{$w}) {
            connect_($w);
            $low{$v} = $low{$w} if $low{$w} < $low{$v};
        } elsif ($on{$w}) {
            $low{$v} = $idx{$w} if $idx{$w} < $low{$v};
        }
    }

    if ($low{$v} == $idx{$v}) {
        my @c;
        my $w;

        do {
            $w = pop @stack;
            $on{$w} = 0;
            push @c, $w;
        } while ($w ne $v);

        push @sccs, [sort @c] if @c > 1;
    }
}

for my $v (sort keys %uses) {
    connect_($v) if $v =~ m{^ngx/} && !exists $idx{$v};
}

for my $c (@sccs) {
    my %in = map { $_ => 1 } @$c;

    print "glue call cycle: @$c\n";

    for my $from (@$c) {
        for my $to (sort keys %{$edges{$from}}) {
            next unless $in{$to};
            print "  $from -> $to: ",
                  join(', ', sort keys %{$edges{$from}{$to}}), "\n";
        }
    }

    $bad++;
}

print $bad ? "layers: $bad finding(s)\n" : "layers: ok\n";

exit($bad ? 1 : 0);


sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return <$fh>;
}
