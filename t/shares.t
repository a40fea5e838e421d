#!/usr/bin/perl

# Tier shares that calibrate themselves, through nginx with two workers:
# a skewed stream (only easy prompts) still sends each tier its target
# share, a shifting stream (then only hard ones) comes back to it, the
# status shows targets, observed shares and boundaries, and the
# configuration's mistakes are refused.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use List::Util;

use TierRouter::Test;
use TierRouter::Prometheus;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;
my $root = TierRouter::Test->repo;

my ($data) = grep { -d } "$root/t/data/routing", '/work/shared/routing-data';
my $cli = "$root/build/tier-router-classify";

plan(skip_all => "no routing data or CLI") unless $data && -x $cli;

# the MMLU prompts by the classifier's score

my %prompt;
open(my $in, '<', "$data/mmlu_dev.jsonl") or die "$!";
while (<$in>) {
    my $row = $J->decode($_);
    $prompt{$row->{id}} = $row->{prompt};
}
close $in;

my (@easy, @hard);
open(my $cl, '-|', $cli, "$data/mmlu_dev.jsonl") or die "$!";
while (<$cl>) {
    my $row = $J->decode($_);
    push @easy, $prompt{$row->{id}} if $row->{score} < 0.40;
    push @hard, $prompt{$row->{id}} if $row->{score} > 0.55;
}
close $cl;

# MMLU comes grouped by subject: a stream in file order drifts by itself

srand(7);
@easy = List::Util::shuffle(@easy);
@hard = List::Util::shuffle(@hard);

ok(@easy > 700 && @hard > 700, scalar(@easy) . ' easy and '
   . scalar(@hard) . ' hard prompts');

$t->mock($_) for qw(small mid frontier);

my $conf = <<'EOF';
worker_processes 2;

http {
    %%HTTP_DEFAULTS%%

    %%UPSTREAMS small mid frontier%%

    tier_router_tier small    model=small-model    upstream=small_up;
    tier_router_tier mid      model=mid-model      upstream=mid_up
                              share=30%;
    tier_router_tier frontier model=frontier-model upstream=frontier_up
                              share=20%;

    tier_router_shares zone=shares:64k window=150 step=0.02;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/ {
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location = /shares {
            tier_router_status shares;
        }
    }
}
EOF

$t->write_config($conf);
$t->run;


# n prompts from the list; the share of the last half on each tier

sub stream {
    my ($list, $n) = @_;
    my %tier;
    my $counted = 0;

    for my $i (0 .. $n - 1) {
        my $body = $J->encode({ model => 'auto', messages => [
            { role => 'user', content => $list->[$i % @$list] } ] });
        my $r = $t->http_post('/v1/chat/completions', $body);
        next if $i < $n / 2;
        $tier{$r->{headers}{'x-tier-router-tier'} // '-'}++;
        $counted++;
    }

    return { map { $_ => ($tier{$_} // 0) / $counted }
             qw(small mid frontier) };
}


my $s = stream(\@easy, 800);

ok(abs($s->{frontier} - 0.20) < 0.07 && abs($s->{mid} - 0.30) < 0.08,
   sprintf('skewed stream (every score under 0.40): frontier %.2f, mid '
           . '%.2f, small %.2f (targets 0.20, 0.30)', $s->{frontier},
           $s->{mid}, $s->{small}));

my $st = TierRouter::Test::json_decode($t->http_get('/shares')->{body});
my %tier = map { $_->{name} => $_ } @{$st->{tiers} || []};

ok($st->{samples} >= 800, "status: $st->{samples} samples, both workers");
is($tier{frontier}{target_share}, 0.2, 'status: the target share');
ok(abs($tier{frontier}{observed_share} - 0.2) < 0.07,
   "status: the observed share ($tier{frontier}{observed_share})");
ok($tier{mid}{max_score} < 0.40 && $tier{mid}{configured_max_score} > 0.6,
   sprintf('status: the boundary moved from %.3f to %.3f',
           $tier{mid}{configured_max_score}, $tier{mid}{max_score}));
ok(!defined $tier{small}{target_share}, 'status: small has no target');

$s = stream(\@hard, 800);

ok(abs($s->{frontier} - 0.20) < 0.07 && abs($s->{mid} - 0.30) < 0.08,
   sprintf('shifted stream (every score over 0.55): frontier %.2f, mid '
           . '%.2f, small %.2f', $s->{frontier}, $s->{mid}, $s->{small}));

$st = TierRouter::Test::json_decode($t->http_get('/shares')->{body});
%tier = map { $_->{name} => $_ } @{$st->{tiers} || []};
ok($tier{mid}{max_score} > 0.55, sprintf('the boundary followed up to %.3f',
                                         $tier{mid}{max_score}));

my $p = $t->http_get('/shares?format=prometheus')->{body};
like($p, qr/^tier_router_share_target_ratio\{zone="shares",
               tier="frontier"\}\ 0\.2000$/mx, 'prometheus: target');
like($p, qr/^tier_router_share_observed_ratio\{zone="shares",
               tier="small"\}\ 0\.\d+$/mx, 'prometheus: observed');

my ($families, @problems) = TierRouter::Prometheus::parse($p);
is_deeply(\@problems, [], 'prometheus: well formed, by the conventions')
    or diag(join "\n", @problems);

# a reload keeps the recent scores

$t->reload;
$st = TierRouter::Test::json_decode($t->http_get('/shares')->{body});
ok($st->{samples} >= 1600, "reload: the samples live on ($st->{samples})");

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts');

# the configuration's mistakes

for my $case (
    [ 'share=10%', '', 'the cheapest tier takes what the others leave' ],
    [ '', 'x', 'needs "tier_router_shares"' ],
    [ '', 'gap', 'needs "share=": every tier above' ],
    [ '', 'sum', 'add up to more than 100%' ],
)
{
    my ($small, $what, $msg) = @$case;
    my $c = $conf;
    $c =~ s/upstream=small_up;/upstream=small_up $small;/;
    if ($what eq 'x') {
        $c =~ s/\n    tier_router_shares [^\n]*//s;
        $c =~ s/tier_router_status shares;//s;
    }
    $c =~ s/share=20%//s if $what eq 'gap';
    $c =~ s/share=30%/share=90%/s if $what eq 'sum';
    $t->write_config($c);
    my ($rc, $out) = $t->test_config;
    like($out, qr/\Q$msg\E/, "refused: $msg") or diag($out);
}

$t->stop;

done_testing;
