use FindBin; exec "$FindBin::Bin/test_privsep" or die "cannot run $FindBin::Bin/test_privsep: $!";
