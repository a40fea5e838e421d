#!/usr/bin/perl

# The status page at its largest: the longest names the directives allow
# (a zone name of 1,000 bytes with a quote and a backslash in it, sixteen
# tiers of 31 characters, labels of 48 bytes that escape to twice that)
# and a page of tenants.  The Prometheus text is whole and well formed,
# every label value unescapes to the name it stands for, and it says what
# the JSON says.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;
use TierRouter::Prometheus;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

$t->mock('small');

# the zone's name as nginx reads it, and as it is written in the file

my $zone = ('z' x 480) . 'a"quote' . ('y' x 480) . 'a\\backslash' . 'x' x 22;
(my $zone_conf = $zone) =~ s/(["\\])/\\$1/g;

is(length $zone, 1000, 'a zone name of 1,000 bytes');

my @tiers = map { substr(sprintf('tier-%02d-', $_) . 'n' x 31, 0, 31) } 1 .. 16;

my $tiers = '';

for my $i (0 .. $#tiers) {
    $tiers .= "    tier_router_tier $tiers[$i] model=model-$i "
              . "upstream=small_up max_score=" . sprintf('%.3f', ($i + 1) / 16)
              . ";\n"
              . "    tier_router_price model-$i input=1 output=2;\n";
}

$t->write_config(<<"EOF");
http {
    %%HTTP_DEFAULTS%%

    upstream small_up { server 127.0.0.1:%%PORT_mock_small%%; }

$tiers
    tier_router_budget_zone "zone=$zone_conf:1m" period=total;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/ {
            tier_router on;
            tier_router_budget "zone=$zone_conf" key=\$http_authorization
                               label=\$http_x_label;
            proxy_pass http://\$tier_router_upstream;
        }

        location = /status {
            tier_router_status "$zone_conf";
        }
    }
}
EOF

$t->run;

# 40 tenants, their labels of 48 bytes, most of them characters to escape

my @labels = map { substr(sprintf('%02d', $_) . ('"\\' x 24), 0, 48) } 1 .. 40;

for my $i (0 .. $#labels) {
    my $r = $t->http_post('/v1/chat/completions',
        $J->encode({ model => 'auto', max_tokens => 10,
                     messages => [{ role => 'user',
                                    content => "Say hello number $i" }] }),
        'Authorization' => "Bearer sk-status-$i",
        'X-Label' => $labels[$i]);

    die "request $i: $r->{status}\n" unless $r->{status} == 200;
}

sleep 0.3;

my $json = TierRouter::Test::json_decode(
    $t->http_get('/status?limit=1000')->{body});

is($json->{zone}, $zone, 'JSON: the zone\'s name');
is(scalar @{$json->{tenants}}, 40, 'JSON: 40 tenants');
is(scalar @{$json->{tiers}}, 16, 'JSON: 16 tiers');
is(scalar(grep { exists $_->{target_share} && !defined $_->{target_share} }
          @{$json->{tiers}}), 16, 'JSON: no tier with a share= target: '
   . 'target_share null');

my $r = $t->http_get('/status?format=prometheus&limit=1000');

is($r->{status}, 200, 'Prometheus: 200');
like($r->{headers}{'content-type'} // '', qr{^text/plain},
     'Prometheus: text/plain');

my $text = $r->{body};
like($text, qr/\n\z/, 'Prometheus: ends with a newline');

my ($families, @problems) = TierRouter::Prometheus::parse($text);
is_deeply(\@problems, [], 'Prometheus: well formed by the format and the '
          . 'naming conventions, at its largest')
    or diag(join "\n", @problems[0 .. ($#problems < 9 ? $#problems : 9)]);

# every line: a HELP, a TYPE, or a sample with labels and a number

my (%samples, @bad);
my $label_re = qr/(\w+)="((?:[^"\\\n]|\\["\\n])*)"/;

for my $line (split /\n/, $text) {
    if ($line =~ /^# (HELP|TYPE) tier_router_\w+ \S/) {
        next;
    }

    if ($line =~ /^(tier_router_\w+)\{((?:$label_re,)*$label_re)\} (\d+(?:\.\d+)?)$/) {
        my ($metric, $labels, $value) = ($1, $2, $+);
        my %l;

        while ($labels =~ /$label_re/g) {
            my ($k, $v) = ($1, $2);
            $v =~ s/\\(["\\n])/$1 eq 'n' ? "\n" : $1/ge;
            $l{$k} = $v;
        }

        push @{$samples{$metric}}, { %l, value => $value };
        next;
    }

    push @bad, $line;
}

is(scalar @bad, 0, 'Prometheus: every line is well formed')
    or diag("first bad line: " . substr($bad[0], 0, 200));

my @zones = map { $_->{zone} } map { @$_ } values %samples;
ok(@zones && !grep({ $_ ne $zone } @zones),
   'Prometheus: every zone label unescapes to the zone\'s name');

for my $m (qw(requests_total input_tokens_total output_tokens_total
              spend_dollars_total estimated_total fell_back_total
              escalated_total))
{
    my @s = @{$samples{"tier_router_tier_$m"} // []};
    is_deeply([sort map { $_->{tier} } @s], [sort @tiers],
              "Prometheus: tier_router_tier_$m for each of the 16 tiers");
}

my %spent = map { ($_->{label} => $_->{spent_micro_usd}) }
            @{$json->{tenants}};

for my $m (qw(spend_dollars requests refused)) {
    my @s = @{$samples{"tier_router_tenant_$m"} // []};
    is_deeply([sort map { $_->{tenant} } @s], [sort @labels],
              "Prometheus: tier_router_tenant_$m for each of the 40 "
              . "tenants, labels escaped and whole");
}

my @spend = @{$samples{tier_router_tenant_spend_dollars} // []};
is(scalar(grep { defined $spent{$_->{tenant}}
                 && int($_->{value} * 1e6 + 0.5) == $spent{$_->{tenant}} }
          @spend), 40, 'Prometheus: each tenant\'s spend as in the JSON');

my ($requests) = map { $_->{value} }
                 @{$samples{tier_router_zone_requests_total} // []};
is($requests, $json->{requests}, 'Prometheus: the zone\'s requests as in '
   . 'the JSON');

# a page of none: the tiers alone must still fit

$r = $t->http_get('/status?format=prometheus&limit=0');
is($r->{status}, 200, 'Prometheus, no tenants: 200');
is(scalar(() = $r->{body} =~ /^tier_router_tier_\w+\{/mg), 16 * 47,
   'Prometheus, no tenants: 752 tier lines (11 counters, 36 lines of two '
   . 'histograms, 16 tiers)');

# names the directives refuse

$t->write_config(<<"EOF", file => 'long.conf');
http {
    upstream u { server 127.0.0.1:1; }
    tier_router_tier ${\ ('t' x 32)} model=m upstream=u;
}
EOF

my ($rc, $out) = $t->_capture($t->_nginx_cmd('-t', '-c',
                                             $t->testdir . '/long.conf'));
isnt($rc, 0, 'a tier name of 32 characters: nginx -t fails');
like($out, qr/must have 1 to 31 characters/, 'and says why');

unlike($t->error_log, qr/\[(alert|crit)\]/, 'no alert or crit in the log');

$t->stop;

done_testing;
