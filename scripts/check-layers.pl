#!/usr/bin/perl

# The module's two layers, checked on its sources and objects:
#   - nothing under core/ includes an nginx header or a glue header, and
#     no core object calls into nginx or the glue;
#   - the glue's files call each other without a cycle (file A calls a
#     function defined in file B, from the objects' symbols with nm).
# Usage: scripts/check-layers.pl OBJDIR (the addon objects of an nginx
# build: build/nginx/objs/addon); TIER_ROUTER_CORE=DIR reads the core's
# sources from DIR.  Prints each finding; exits 1 if any.

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

my (%defines, %uses);

for my $o (sort glob("$objdir/core/*.o"), glob("$objdir/ngx/*.o")) {
    (my $name = $o) =~ s{^.*/(core|ngx)/(\w+)\.o$}{$1/$2};

    open my $nm, '-|', 'nm', $o or die "nm $o: $!";

    while (<$nm>) {
        if (/^\s*U (\w+)$/) {
            $uses{$name}{$1} = 1;
        } elsif (/^[0-9a-f]+ T (\w+)$/) {
            $defines{$1} = $name;
        }
    }
}

die "no objects under $objdir\n" unless %uses;

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
