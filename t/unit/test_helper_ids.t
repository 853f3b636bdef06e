use FindBin; exec "$FindBin::Bin/test_helper_ids" or die "cannot run $FindBin::Bin/test_helper_ids: $!";
