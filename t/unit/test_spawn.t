use FindBin; exec "$FindBin::Bin/test_spawn" or die "cannot run $FindBin::Bin/test_spawn: $!";
