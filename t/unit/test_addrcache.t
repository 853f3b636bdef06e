use FindBin; exec "$FindBin::Bin/test_addrcache" or die "cannot run $FindBin::Bin/test_addrcache: $!";
