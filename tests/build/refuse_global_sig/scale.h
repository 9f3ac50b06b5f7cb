long scale(int x);
