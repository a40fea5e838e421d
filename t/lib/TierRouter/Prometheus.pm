package TierRouter::Prometheus;

# The Prometheus text format (version 0.0.4) read strictly, and the
# conventions of its naming checked: a metric name of [a-zA-Z_:][a-zA-Z0-9_:]*,
# label names of [a-zA-Z_][a-zA-Z0-9_]* (none starting "__"), label values
# with only the three escapes, each family's HELP and TYPE once and before
# its samples, counters ending in _total and nothing else ending so,
# no unit but the base units (seconds, not milliseconds; dollars, not
# micro-dollars), histograms whole (le ascending, buckets cumulative, the
# +Inf bucket equal to _count, a _sum), and no series twice.
#
#   my ($families, @problems) = TierRouter::Prometheus::parse($text);
#   $families->{name} = { type => ..., help => ...,
#                         samples => [ { name => ..., labels => {...},
#                                        value => ... }, ... ] }

use strict;
use warnings;

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $VALUE = qr/[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN)/;

# units that are not the base ones, as a name's part
my $BAD_UNIT = qr/_(?:milliseconds|microseconds|ms|us|micro_usd|cents|
                      minutes|hours|kilobytes|megabytes|percent)(?:_|$)/x;

sub parse {
    my ($text) = @_;
    my (%f, @problems, %seen, $current);

    my @lines = split /\n/, $text, -1;

    push @problems, 'the text does not end with a newline'
        if @lines && $lines[-1] ne '';
    pop @lines if @lines && $lines[-1] eq '';

    for my $line (@lines) {
        if ($line =~ /^# (HELP|TYPE) ($NAME) (.*)$/) {
            my ($what, $name, $rest) = ($1, $2, $3);
            my $fam = $f{$name} //= { samples => [] };

            if (defined $fam->{lc $what}) {
                push @problems, "$what $name twice";
            }

            if (@{$fam->{samples}}) {
                push @problems, "$what $name after its samples";
            }

            if ($what eq 'TYPE'
                && $rest !~ /^(?:counter|gauge|histogram|summary|untyped)$/)
            {
                push @problems, "TYPE $name: unknown type $rest";
            }

            $fam->{lc $what} = $rest;
            $current = $name;
            next;
        }

        if ($line =~ /^#/) {
            next;
        }

        unless ($line =~ /^($NAME)(?:\{(.*)\})? ($VALUE)$/) {
            push @problems, "not a sample: $line";
            next;
        }

        my ($name, $labels, $value) = ($1, $2 // '', $3);
        my %l;

        while (length $labels) {
            unless ($labels =~ s/^($LABEL)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//) {
                push @problems, "bad labels in: $line";
                last;
            }

            my ($k, $v) = ($1, $2);
            push @problems, "label $k twice in: $line" if exists $l{$k};
            push @problems, "reserved label $k in: $line" if $k =~ /^__/;
            $v =~ s/\\(["\\n])/$1 eq 'n' ? "\n" : $1/ge;
            $l{$k} = $v;
        }

        # the family: the name, or the histogram's the suffix belongs to

        my $family = $name;

        if (!$f{$name} && $name =~ /^(.*)_(?:bucket|sum|count)$/
            && $f{$1} && ($f{$1}{type} // '') eq 'histogram')
        {
            $family = $1;
        }

        my $fam = $f{$family};

        if (!$fam || !defined $fam->{type}) {
            push @problems, "$name: a sample without a TYPE";
            $fam = $f{$family} //= { samples => [] };
        }

        if (defined $current && $current ne $family) {
            push @problems, "$name: not next to its family's TYPE";
        }

        my $key = join "\0", $name, map { "$_=$l{$_}" } sort keys %l;
        push @problems, "$name: a series twice: $line" if $seen{$key}++;

        push @{$fam->{samples}}, { name => $name, labels => \%l,
                                   value => $value };
    }

    for my $name (sort keys %f) {
        my $fam = $f{$name};
        my $type = $fam->{type} // '';

        push @problems, "$name: no HELP" unless defined $fam->{help};
        push @problems, "$name: a counter not ending in _total"
            if $type eq 'counter' && $name !~ /_total$/;
        push @problems, "$name: a $type ending in _total"
            if $type ne 'counter' && $name =~ /_total$/;
        push @problems, "$name: not in base units" if $name =~ $BAD_UNIT;

        push @problems, histogram($name, $fam) if $type eq 'histogram';
    }

    return (\%f, @problems);
}

# each series of a histogram: buckets ascending and cumulative, +Inf last
# and equal to _count, a _sum

sub histogram {
    my ($name, $fam) = @_;
    my (%series, @problems);

    for my $s (@{$fam->{samples}}) {
        my %l = %{$s->{labels}};
        my $le = delete $l{le};
        my $key = join ',', map { "$_=$l{$_}" } sort keys %l;
        my $h = $series{$key} //= { buckets => [] };

        if ($s->{name} eq "${name}_bucket") {
            push @problems, "$name: a bucket without le" unless defined $le;
            push @{$h->{buckets}}, [$le // 0, $s->{value}];
        } elsif ($s->{name} eq "${name}_sum") {
            $h->{sum} = $s->{value};
        } elsif ($s->{name} eq "${name}_count") {
            $h->{count} = $s->{value};
        } else {
            push @problems, "$name: a sample $s->{name} in the histogram";
        }
    }

    for my $key (sort keys %series) {
        my $h = $series{$key};
        my @b = @{$h->{buckets}};

        push @problems, "$name\{$key}: no _sum" unless defined $h->{sum};
        push @problems, "$name\{$key}: no _count"
            unless defined $h->{count};
        push @problems, "$name\{$key}: no buckets" unless @b;
        next unless @b;

        push @problems, "$name\{$key}: the last bucket is not +Inf"
            unless $b[-1][0] eq '+Inf';

        for my $i (1 .. $#b) {
            my ($a, $z) = ($b[$i - 1], $b[$i]);
            my $zl = $z->[0] eq '+Inf' ? 9**9**9 : $z->[0];

            push @problems, "$name\{$key}: le not ascending at $z->[0]"
                unless $zl > $a->[0];
            push @problems, "$name\{$key}: buckets not cumulative at "
                            . $z->[0]
                unless $z->[1] >= $a->[1];
        }

        push @problems, "$name\{$key}: +Inf is not _count"
            if defined $h->{count} && $b[-1][1] != $h->{count};
    }

    return @problems;
}

1;
