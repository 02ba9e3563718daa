# Shared by the end-to-end scripts (sourced): the median of a list of numbers on stdin, space- or line-separated.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
