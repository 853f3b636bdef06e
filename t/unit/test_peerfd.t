use FindBin; exec "$FindBin::Bin/test_peerfd" or die "cannot run $FindBin::Bin/test_peerfd: $!";
