#!/usr/bin/perl

# Build OpenAI chat request bodies of about 1 KB, 9 KB and 64 KB from real
# prompts, shaped like real traffic: a system message, earlier user and
# assistant turns, the question last; "messages" before "model" (as the
# OpenAI SDKs send it).
#
#   perl bench/make_bodies.pl OUTDIR [PROMPT_FILE...]
#
# PROMPT_FILEs: *.jsonl with a "prompt" field per line (the routing data),
# or text files with one prompt per line ("\n" for a newline).  Default:
# /work/shared/routing-data/*.jsonl when present, else bench/prompts.txt.
# Writes OUTDIR/body-1k.json, body-9k.json, body-64k.json and
# body-64k-zh.json (the 64 KB shape with every letter of the messages'
# text a Chinese character, three bytes of UTF-8: text that is not ASCII)
# and prints "name bytes messages source" per body.  Deterministic.

use strict;
use warnings;

use File::Basename qw(dirname);
use JSON::PP;

my $out = shift or die "usage: $0 OUTDIR [PROMPT_FILE...]\n";
my @files = @ARGV;

unless (@files) {
    @files = sort glob '/work/shared/routing-data/*.jsonl';
    @files = (dirname($0) . '/prompts.txt') unless @files;
}

my @prompts;

for my $f (@files) {
    open my $fh, '<:raw', $f or die "$0: $f: $!\n";
    while (my $line = <$fh>) {
        chomp $line;
        next if $line =~ /^\s*(#|$)/;
        my $p;
        if ($f =~ /\.jsonl$/) {
            my $j = eval { decode_json($line) } or next;
            $p = $j->{prompt};
        } else {
            $p = $line =~ s/\\n/\n/gr;
        }
        push @prompts, $p if defined $p && length $p > 20;
    }
}

die "$0: no prompts in @files\n" unless @prompts;

# spread the picks over all files: every 37th prompt, wrapping around
my $next = 0;
sub pick {
    my $p = $prompts[$next % @prompts];
    $next += 37;
    return $p;
}

my $JSON = JSON::PP->new->utf8->allow_nonref;

# keys in the order clients send them (JSON::PP would sort or shuffle them)
sub encode_body {
    my ($msgs) = @_;
    my $m = join ',', map {
        '{"role":' . $JSON->encode($_->{role}) . ',"content":'
            . $JSON->encode($_->{content}) . '}'
    } @$msgs;
    return '{"messages":[' . $m . '],"model":"auto","temperature":0.2,'
        . '"max_tokens":1024,"stream":false}';
}

mkdir $out unless -d $out;

my %size = ('1k' => 1024, '9k' => 9 * 1024, '64k' => 64 * 1024,
            '64k-zh' => 64 * 1024);

# a letter as one of 26 common Chinese characters (U+4E00 on)
sub zh {
    my ($s) = @_;
    return $s =~ s/([A-Za-z])/chr(0x4E00 + (ord(lc $1) - 97) * 211)/ger;
}

for my $name (qw(1k 9k 64k 64k-zh)) {
    $next = 0 if $name eq '64k-zh';     # the same prompts as 64k
    my $pick = $name eq '64k-zh' ? sub { zh(pick()) } : \&pick;
    my $target = $size{$name};
    my @msgs = ({ role => 'system', content => 'You are a careful'
        . ' assistant. Answer the question, show your reasoning briefly'
        . ' and give the final answer on the last line.' });

    # earlier turns, then the question, until the target size is reached
    my $body;
    do {
        splice @msgs, 1, 0,
            { role => 'user', content => $pick->() },
            { role => 'assistant', content => 'Working through it step by'
                . ' step: ' . $pick->() . "\nSo the answer follows from"
                . ' the steps above.' }
            if @msgs > 1;
        push @msgs, { role => 'user', content => $pick->() } if @msgs == 1;
        $body = encode_body(\@msgs);
    } while (length $body < $target);

    # shorten the longest earlier turn until the body fits the target
    while (length $body > $target) {
        my ($i) = sort { length $msgs[$b]{content} <=> length $msgs[$a]{content} }
            1 .. $#msgs - 1;
        last unless defined $i;
        my $c = $msgs[$i]{content};
        my $cut = length($body) - $target;
        $cut = length $c if $cut > length $c;
        $msgs[$i]{content} = substr $c, 0, length($c) - $cut;
        $body = encode_body(\@msgs);
    }

    my $file = "$out/body-$name.json";
    open my $fh, '>:raw', $file or die "$0: $file: $!\n";
    print $fh $body;
    close $fh;

    printf "%s %d %d %s\n", $name, length $body, scalar @msgs,
        join(',', map { s{.*/}{}r } @files);
}
