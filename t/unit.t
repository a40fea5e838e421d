#!/usr/bin/perl

# The C unit tests: builds them (make -s unit, a no-op when up to date),
# then runs build/test_NAME for every t/unit/test_NAME.c and passes its TAP
# on as a subtest.  A binary that is missing, dies, exits non-zero or does
# not run its plan fails; comments print with the failures they explain.
#
# The routing prompts part of test_extract reads $TIER_ROUTER_DATA, else
# t/data/routing or the shared copy, as classify.t does (skipped without).

use strict;
use warnings;
use FindBin qw($Bin);
use Test::More;

my $root = "$Bin/..";
my @names = map { m{/test_(\w+)\.c$} ? $1 : () }
            sort glob "$root/t/unit/test_*.c";

ok(@names > 0, 'there are C unit tests (t/unit/test_*.c)');

my $rc = system('make', '-s', '-k', '-C', $root, 'unit');
ok($rc == 0, 'make -s unit') or diag("make exited with status " . ($rc >> 8));

my ($data) = grep { defined && length && -d $_ }
             $ENV{TIER_ROUTER_DATA}, "$Bin/data/routing",
             '/work/shared/routing-data';
$ENV{TIER_ROUTER_DATA} = $data // '';

for my $name (@names) {
    my $bin = "$root/build/test_$name";

    subtest "build/test_$name" => sub {
        unless (-x $bin) {
            fail("$bin is built");
            return;
        }

        my $pid = open(my $fh, '-|');
        defined $pid or BAIL_OUT("fork: $!");

        unless ($pid) {
            open(STDERR, '>&', \*STDOUT);
            exec($bin) or die "exec $bin: $!\n";
        }

        my ($plan, $count, $failing, @pending) = (undef, 0, 0);

        while (my $line = <$fh>) {
            chomp $line;

            if ($line =~ /^(not )?ok\b\s*\d*\s*(?:-\s*)?(.*)$/) {
                my ($not, $test) = ($1, $2);
                $count++;

                # comments before a failure (and up to the next test
                # line) explain it; others are notes

                if ($not) {
                    diag($_) for @pending;
                } else {
                    note($_) for @pending;
                }

                @pending = ();
                $failing = !!$not;

                if ($test =~ s/\s*#\s*SKIP\b\s*(.*)$//i) {
                    my $why = $1;
                    SKIP: { skip($why, 1) }
                    next;
                }

                ok(!$not, $test);

            } elsif ($line =~ /^1\.\.(\d+)/) {
                $plan = $1;

            } elsif ($line =~ /^\s*#\s?(.*)$/) {
                if ($failing) {
                    diag($1);
                } else {
                    push @pending, $1;
                }

            } else {
                push @pending, $line;
            }
        }

        close($fh);
        my $status = $?;

        note($_) for @pending;

        ok($status == 0, "test_$name exits 0")
            or diag("exit status " . ($status >> 8)
                    . ($status & 127 ? ", signal " . ($status & 127) : ''));
        ok(defined $plan && $plan == $count,
           "test_$name ran its plan of " . ($plan // '?') . " ($count ran)");
    };
}

done_testing();
