#!/usr/bin/perl

# The classifier, offline: the tier-router-classify CLI's output format,
# the C unit tests, the keyword tables' order, and the routing quality on
# the development sets (APGR must beat prompt length, per the data's
# README), so that a regression fails the test suite.

use strict;
use warnings;
use File::Temp qw(tempfile);
use FindBin qw($Bin);
use IPC::Open3 qw(open3);
use JSON::PP ();
use Symbol qw(gensym);
use Test::More;

my $root = "$Bin/..";
my $cli = "$root/build/tier-router-classify";
my $unit = "$root/build/test_classify";
my $scorer = "$root/tools/tier-router-score";
my $source = "$root/ngx_http_tier_router_module/core/tr_classify.c";
my $json = JSON::PP->new->utf8->canonical;

# the development data: $TIER_ROUTER_DATA, t/data/routing, or the shared copy

my ($data) = grep { defined && -f "$_/gsm8k_dev.jsonl" && -f "$_/mmlu_dev.jsonl" }
             $ENV{TIER_ROUTER_DATA}, "$Bin/data/routing",
             '/work/shared/routing-data';

for my $f ($cli, $unit) {
    BAIL_OUT("$f is not built: run make cli unit") unless -x $f;
}

# runs a command with the given stdin; returns (exit status, stdout, stderr)

sub run {
    my ($in, @cmd) = @_;
    my $err = gensym;
    my $pid = open3(my $w, my $r, $err, @cmd);

    print $w $in if defined $in;
    close $w;

    my $out = do { local $/; <$r> } // '';
    my $errs = do { local $/; <$err> } // '';
    waitpid($pid, 0);

    return ($? >> 8, $out, $errs);
}

sub lines {
    my ($out) = @_;
    return map { $json->decode($_) } grep { length } split /\n/, $out;
}

# -- the C unit tests ------------------------------------------------------

{
    my ($rc, $out) = run(undef, $unit);
    my @not_ok = grep { /^not ok/ } split /\n/, $out;
    my ($plan) = $out =~ /^1\.\.(\d+)$/m;

    ok($rc == 0 && !@not_ok && $plan, "test_classify passes ($plan tests)")
        or diag(join "\n", @not_ok);
}

# -- the keyword tables are sorted (they are binary searched) --------------

{
    open(my $fh, '<', $source) or die "$source: $!";
    my $c = do { local $/; <$fh> };
    close $fh;

    for my $table (qw(keywords heads)) {
        my ($body) = $c =~ /tr_\Q$table\E\[\]\s*=\s*\{(.*?)\n\};/s;
        my @words = ($body // '') =~ /\{ "([^"]*)",/g;
        my @bad = grep { $words[$_ - 1] ge $words[$_] } 1 .. $#words;

        ok(@words > 10 && !@bad, "the $table table is sorted and unique ("
           . scalar(@words) . " words)")
            or diag("out of order: " . join ', ',
                    map { "$words[$_ - 1] >= $words[$_]" } @bad);
    }
}

# -- the CLI ----------------------------------------------------------------

{
    my ($rc, $out) = run(undef, $cli, '--help');
    is($rc, 0, '--help exits 0');
    like($out, qr/--tiers.*--thresholds/s, '--help documents the options');

    ($rc, undef, my $err) = run('', $cli, '--bogus');
    isnt($rc, 0, 'an unknown option fails');
    like($err, qr/unknown option/, 'and says so');

    ($rc, undef, $err) = run('', $cli, '--thresholds', '0.9,0.2');
    isnt($rc, 0, 'thresholds out of order fail');
}

my $input = join "\n",
    '{"id":"row-1","prompt":"Translate \'good morning\' to French"}',
    '{"id":7,"prompt":"Design a distributed system for payments across '
        . 'three regions and write the code for the ledger, the API gateway '
        . 'and the reconciliation services."}',
    '{"model":"auto","messages":[{"role":"user","content":"Prove that '
        . 'every finite integral domain is a field."}],'
        . '"reasoning_effort":"high"}',
    '{"body":{"model":"auto","input":"hi"},"uri":"/v1/responses"}',
    '{"body":"{\"model\":\"auto\",\"max_tokens\":100,\"messages\":'
        . '[{\"role\":\"user\",\"content\":\"hello\"}]}"}',
    '',
    'this is not json',
    '{"id":"no-text","foo":1}',
    '{"model":"auto","messages":"nope"}',
    "";

{
    my ($rc, $out, $err) = run($input, $cli);
    my @v = lines($out);

    is($rc, 1, 'exit status 1 when a line failed');
    is(scalar @v, 8, 'one output line per non-blank input line');

    for my $i (0 .. 4) {
        my $r = $v[$i];
        ok(defined $r->{score} && !ref $r->{score}
           && $r->{score} >= 0 && $r->{score} <= 1
           && $r->{tier} =~ /^(small|mid|frontier|thinking)$/
           && ref $r->{reasons} eq 'ARRAY'
           && !grep({ !/^[a-z_]+$/ } @{ $r->{reasons} })
           && JSON::PP::is_bool($r->{no_signal})
           && !exists $r->{error},
           "line " . ($i + 1) . ": score, tier, reasons, no_signal")
            or diag(explain $r);
    }

    my @keys = $out =~ /^\{"(\w+)"/mg;
    is($keys[0], 'id', 'id comes first');
    like((split /\n/, $out)[0],
         qr/^\{"id":"row-1","score":[0-9.]+,"tier":"\w+","reasons":\[.*\],"no_signal":(true|false)\}$/,
         'output line format');
    is($v[0]{id}, 'row-1', 'a string id is kept');
    is($v[1]{id}, 7, 'a number id is kept');
    ok(!exists $v[2]{id}, 'no id when the input has none');

    is($v[0]{tier}, 'small', 'translation goes to the small tier');
    ok((grep { $_ eq 'task_translate' } @{ $v[0]{reasons} }),
       'translation: task_translate');
    cmp_ok($v[1]{score}, '>', 0.6, 'distributed design scores above 0.6');
    ok((grep { $_ eq 'reasoning_high' } @{ $v[2]{reasons} }),
       'a request body: reasoning_effort is read');
    ok((grep { $_ eq 'short_output' } @{ $v[4]{reasons} }),
       'a logged body as a string: max_tokens is read');

    like($v[5]{error}, qr/JSON/, 'bad JSON: an error line');
    is($v[6]{id}, 'no-text', 'an error line keeps the id');
    like($v[6]{error}, qr/prompt/, 'no text: an error line');
    ok(defined $v[7]{error}, 'an invalid request body: an error line');
    like($err, qr/:7: /, 'stderr names the failing line');
}

{
    my $in = '{"prompt":"Translate \'good morning\' to French"}' . "\n";
    my ($rc, $out) = run($in, $cli, '--tiers', 'cheap,dear',
                         '--thresholds', '0.1');
    is(($json->decode($out))->{tier}, 'dear', '--tiers and --thresholds');

    ($rc, $out) = run($in, $cli, '--tiers', 'a,b,c');
    is(($json->decode($out))->{tier}, 'a',
       '--tiers alone: (i+1)/n thresholds');
}

# -- routing quality on the development sets --------------------------------

SKIP: {
    skip 'no routing data (set TIER_ROUTER_DATA)', 10 unless $data;

    # README: prompt length gives APGR 0.617 (GSM8K), 0.592 (MMLU)

    my %readme = (gsm8k => 0.617, mmlu => 0.592);

    for my $set (qw(gsm8k mmlu)) {
        my $file = "$data/${set}_dev.jsonl";

        my ($rc, $out) = run(undef, $scorer, '--data', $file,
                             '--baseline', 'length', '--ties', 'order',
                             '--json');
        my $len = $json->decode($out);

        is(sprintf('%.3f', $len->{apgr}), $readme{$set},
           "$set: the scorer reproduces the README's length APGR");

        ($rc, my $classified) = run(undef, $cli, $file);
        is($rc, 0, "$set: every row classified");

        my ($fh, $scores) = tempfile(UNLINK => 1);
        print $fh $classified;
        close $fh;

        ($rc, $out) = run(undef, $scorer, '--data', $file, '--scores',
                          $scores, '--json');
        my $r = $json->decode($out);

        cmp_ok($r->{apgr}, '>', $readme{$set},
               "$set: APGR beats prompt length ($readme{$set})");
        cmp_ok($r->{cpt50}, '<', $len->{cpt50},
               "$set: CPT(50%) below prompt length's");

        note(sprintf '%s: APGR %.3f CPT(50%%) %.1f%% CPT(80%%) %.1f%% '
             . '95%%: %.1f%% (length: APGR %.3f)', $set, $r->{apgr},
             100 * $r->{cpt50}, 100 * $r->{cpt80}, 100 * $r->{strong95},
             $len->{apgr});

        # tied scores are scored as a random pick among them

        my %seen;
        my @all = map { $_->{score} } lines($classified);
        $seen{$_}++ for @all;
        my $tied = 0;
        $tied += $_ for grep { $_ > 1 } values %seen;

        cmp_ok($tied, '<', 0.2 * @all, "$set: few rows share a score "
               . "($tied of " . scalar(@all) . ")");
    }
}

done_testing();
