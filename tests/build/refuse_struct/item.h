struct item {
	long id;
	long price;
};
