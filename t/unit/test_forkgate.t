use FindBin; exec "$FindBin::Bin/test_forkgate" or die "cannot run $FindBin::Bin/test_forkgate: $!";
