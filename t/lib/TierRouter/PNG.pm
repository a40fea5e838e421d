package TierRouter::PNG;

# A PNG reader for the tests' screenshots, in core Perl (Compress::Zlib):
# 8-bit greyscale, RGB, palette, greyscale with alpha and RGBA images,
# not interlaced; every filter type (0-4); each chunk's CRC checked.
#
#   my $png = TierRouter::PNG->read($bytes);   # dies on a bad image
#   $png->{width}, $png->{height}
#   $png->pixel($x, $y)        # "rrggbb" (lower-case hex; alpha dropped)
#   $png->colours              # { "rrggbb" => number of pixels, ... }

use strict;
use warnings;

use Compress::Zlib qw(uncompress crc32);

# bytes per pixel of each colour type, at 8 bits a sample

my %BPP = (0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4);


sub read {
    my ($class, $data) = @_;

    die "not a PNG\n" unless substr($data, 0, 8) eq "\x89PNG\r\n\x1a\n";

    my ($pos, $idat, %ihdr, $plte) = (8, '');

    while (1) {
        die "PNG: truncated\n" if $pos + 12 > length $data;

        my ($len, $type) = unpack 'Na4', substr($data, $pos, 8);

        die "PNG: chunk $type runs past the end\n"
            if $pos + 12 + $len > length $data;

        my $body = substr($data, $pos + 8, $len);
        my $crc = unpack 'N', substr($data, $pos + 8 + $len, 4);

        die "PNG: bad CRC in $type\n" if crc32($type . $body) != $crc;

        $pos += 12 + $len;

        if ($type eq 'IHDR') {
            @ihdr{qw(width height depth colour compression filter
                     interlace)} = unpack 'NNCCCCC', $body;
        } elsif ($type eq 'PLTE') {
            $plte = $body;
        } elsif ($type eq 'IDAT') {
            $idat .= $body;
        } elsif ($type eq 'IEND') {
            last;
        }
    }

    my ($w, $h, $ct) = @ihdr{qw(width height colour)};

    die "PNG: no IHDR\n" unless $w && $h;
    die "PNG: bit depth $ihdr{depth} is not read here\n"
        unless $ihdr{depth} == 8;
    die "PNG: colour type $ct is not read here\n" unless $BPP{$ct};
    die "PNG: interlaced images are not read here\n" if $ihdr{interlace};
    die "PNG: a palette image without PLTE\n" if $ct == 3 && !$plte;

    my $raw = uncompress($idat);

    die "PNG: the image data does not inflate\n" unless defined $raw;

    my $bpp = $BPP{$ct};
    my $stride = $w * $bpp;

    die "PNG: " . length($raw) . " bytes of image data for ${w}x$h\n"
        unless length $raw == $h * ($stride + 1);

    my @prev = (0) x $stride;
    my @rows;

    for my $y (0 .. $h - 1) {
        my $off = $y * ($stride + 1);
        my $filter = ord substr($raw, $off, 1);
        my @cur = unpack 'C*', substr($raw, $off + 1, $stride);

        if ($filter == 1) {
            $cur[$_] = ($cur[$_] + $cur[$_ - $bpp]) & 0xff
                for $bpp .. $stride - 1;

        } elsif ($filter == 2) {
            $cur[$_] = ($cur[$_] + $prev[$_]) & 0xff for 0 .. $stride - 1;

        } elsif ($filter == 3) {
            for my $i (0 .. $stride - 1) {
                my $left = $i >= $bpp ? $cur[$i - $bpp] : 0;
                $cur[$i] = ($cur[$i] + (($left + $prev[$i]) >> 1)) & 0xff;
            }

        } elsif ($filter == 4) {
            for my $i (0 .. $stride - 1) {
                my ($a, $b, $c) = $i >= $bpp
                    ? ($cur[$i - $bpp], $prev[$i], $prev[$i - $bpp])
                    : (0, $prev[$i], 0);
                my $p = $a + $b - $c;
                my ($pa, $pb, $pc) = (abs($p - $a), abs($p - $b),
                                      abs($p - $c));
                $cur[$i] = ($cur[$i] + ($pa <= $pb && $pa <= $pc ? $a
                                        : $pb <= $pc ? $b : $c)) & 0xff;
            }

        } elsif ($filter != 0) {
            die "PNG: filter type $filter in row $y\n";
        }

        push @rows, _rgb($ct, \@cur, $plte);
        @prev = @cur;
    }

    return bless { %ihdr, rows => \@rows }, $class;
}


# a row as a string of 3-byte RGB pixels

sub _rgb {
    my ($ct, $cur, $plte) = @_;

    return pack 'C*', @$cur if $ct == 2;
    return pack 'C*', map { ($_) x 3 } @$cur if $ct == 0;
    return pack 'C*', map { ($cur->[$_ * 2]) x 3 } 0 .. $#$cur / 2
        if $ct == 4;
    return pack 'C*', map { @$cur[$_ * 4 .. $_ * 4 + 2] } 0 .. $#$cur / 4
        if $ct == 6;

    # a palette: an index past its end is an error

    return join '', map {
        die "PNG: palette index $_ past the palette\n"
            if $_ * 3 + 3 > length $plte;
        substr($plte, $_ * 3, 3)
    } @$cur;
}


sub pixel {
    my ($self, $x, $y) = @_;

    return unpack 'H6', substr($self->{rows}[$y], $x * 3, 3);
}


sub colours {
    my ($self) = @_;

    my %n;

    for my $row (@{$self->{rows}}) {
        $n{$_}++ for unpack '(H6)*', $row;
    }

    return \%n;
}


1;
